using MtnnCluster.Chem;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>Which network turns a molecule into the embedding the task heads read.</summary>
public enum TrunkKind
{
    /// <summary>An MLP on the count fingerprint and descriptors (<see cref="FingerprintTrunk"/>).</summary>
    Fingerprint,
    /// <summary>A directed message-passing network on the molecular graph, chemprop's D-MPNN (<see cref="GraphTrunk"/>).</summary>
    Graph,
}

/// <summary>
/// What a trunk reads of each molecule of a dataset: its sparse features (fingerprint and descriptors; for a graph
/// trunk, the molecule-level features beside the graph) and, for a graph trunk, its graph.
/// </summary>
public sealed record MoleculeInputs(IReadOnlyList<SparseFeatures> Features, int FeatureSize, IReadOnlyList<MoleculeGraph>? Graphs = null);

/// <summary>
/// The rows a trunk runs on, as it keeps them on its device (one worker's share of a split, or a chunk to predict):
/// made by <see cref="ITrunk.Store"/>, read only by the trunk that made it.
/// </summary>
public interface ITrunkRows : IDisposable
{
    long RowCount { get; }
    /// <summary>Bytes held on the device.</summary>
    long StoredBytes { get; }
    /// <summary>How the rows are stored, for the log.</summary>
    string Layout { get; }
}

/// <summary>
/// The dropout of one training batch: every worker draws the masks of the whole global batch
/// (<see cref="BatchRows"/> rows) from the same seeded <see cref="Generator"/> and keeps those of its own rows
/// (<see cref="Rows"/>: their positions in the batch; null: all of them), so a row's mask depends neither on the
/// worker that computes it nor on how many workers there are.
/// </summary>
public sealed record BatchDropout(Generator Generator, long BatchRows, Tensor? Rows);

/// <summary>
/// The shared part of a hard-parameter-sharing network: rows in, one embedding per row out. A trunk owns its
/// parameters as plain float32 tensors (reduced, stepped by AdamW, snapshotted and checkpointed by whoever drives it,
/// in the order of <see cref="Parameters"/>) and the form its rows take on the device. Knows nothing of workers,
/// heads or the wire: <see cref="ShardTrainer"/> runs any trunk data-parallel the same way.
/// To add a trunk: implement this, give it a <see cref="TrunkKind"/>, and build it in <see cref="Trunks.Create"/>.
/// </summary>
public interface ITrunk : IDisposable
{
    TrunkKind Kind { get; }
    /// <summary>The width of an embedding: the heads' input.</summary>
    int OutputSize { get; }
    IReadOnlyList<Tensor> Parameters { get; }
    /// <summary>The type the layers compute in (float32, or bfloat16 on float32 weights where the trunk supports it).</summary>
    ScalarType ComputeType { get; }

    /// <summary>Rows <paramref name="rows"/> of <paramref name="inputs"/>, in that order, kept on <paramref name="device"/> in the trunk's compact form.</summary>
    ITrunkRows Store(MoleculeInputs inputs, IReadOnlyList<int> rows, Device device);

    /// <summary>
    /// Training forward, with autograd, of the stored rows at <paramref name="positions"/>, in that order, with the
    /// batch's dropout (null: none). Returns [positions × <see cref="OutputSize"/>] float32. Call inside a dispose scope.
    /// </summary>
    Tensor Forward(ITrunkRows rows, IReadOnlyList<long> positions, BatchDropout? dropout);

    /// <summary>Every stored row's embedding, without dropout or autograd, in chunks that bound memory.</summary>
    Tensor Embed(ITrunkRows rows);

    /// <summary>The parameters by name, in the order of <see cref="Parameters"/> (snapshots, checkpoints).</summary>
    TensorData[] Export();
    void Load(IReadOnlyList<TensorData> parameters);
}
