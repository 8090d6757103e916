using MtnnCluster.Chem;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>How a graph's atom states become one molecule vector.</summary>
public enum GraphReadout { Mean, Sum, Norm }

/// <summary>
/// The graph trunk: directed-bond message passing as chemprop's D-MPNN defines it, then feed-forward layers.
/// <list type="number">
/// <item>Each directed bond u→v starts from h⁰ = W_i [x_u ‖ e_uv] (no bias), its state h = ReLU(h⁰).</item>
/// <item><c>Depth</c> − 1 times: the message m_uv = Σ_{w→u} h_wu − h_vu (what reaches u, less what v sent it), and
/// h = ReLU(h⁰ + W_h m) (no bias).</item>
/// <item>Each atom: a_v = ReLU(W_o [x_v ‖ Σ_{u→v} h_uv] + b_o); a lone atom (no bond) reads its own features alone.</item>
/// <item>The molecule: the mean (or sum, or sum / 100) of its atoms' states, with the molecule-level features (if
/// any) beside it, through <c>Layers</c> (Linear → ReLU → dropout): the last one is the embedding.</item>
/// </list>
/// W_i's product is taken on atoms and bonds apart and gathered onto the directed bonds, which gives the same sums
/// as gathering first; sums over bonds are <c>index_add</c>. Parameters are plain tensors, drawn in a fixed order
/// from the run's seed, so every worker starts with the same model whatever their number.
/// </summary>
public sealed class GraphTrunk : ITrunk
{
    private const int AtomWidth = GraphFeatures.AtomFeatureCount, BondWidth = GraphFeatures.BondFeatureCount;
    /// <summary>
    /// Atoms per evaluation chunk: bounds the memory of [directed bonds × hidden] whatever the molecules' size. 4,096
    /// (about 200 molecules) keeps each intermediate a few MB: 65,536 made 160 MB tensors whose page faults took more
    /// time than the arithmetic (an ATE-SG head epoch's embedding at 20 CPU s for 6,258 molecules; measured).
    /// </summary>
    private const long ChunkAtoms = 1 << 12;

    private readonly List<Tensor> _parameters = [];
    private readonly List<string> _names = [];
    private readonly Tensor _input, _hidden, _atomOutput, _atomBias, _readoutWeight, _firstBias;
    private readonly Tensor? _featureWeight;
    private SparseFirstLayer? _features;

    public TrunkKind Kind => TrunkKind.Graph;
    public int Depth { get; }
    public int Hidden { get; }
    public GraphReadout Readout { get; }
    /// <summary>Width of the molecule-level features beside the graph (0: none).</summary>
    public int FeatureSize { get; }
    public int[] Layers { get; }
    public int OutputSize => Layers[^1];
    public IReadOnlyList<Tensor> Parameters => _parameters;
    public ScalarType ComputeType => ScalarType.Float32;
    /// <summary>Training dropout after each feed-forward layer (batch-wide masks, as the fingerprint trunk's).</summary>
    public double LayerDropout { get; init; }

    public GraphTrunk(int depth, int hidden, GraphReadout readout, int featureSize, int[] layers, long seed, Device device)
    {
        if (depth < 1) throw new ArgumentException($"depth must be ≥ 1 (got {depth})");
        if (layers.Length == 0) throw new ArgumentException("the graph trunk needs at least one layer after the readout");
        (Depth, Hidden, Readout, FeatureSize, Layers) = (depth, hidden, readout, featureSize, layers);
        using var generator = new Generator(checked((ulong)seed));
        Tensor Add(string name, long[] shape, long fanIn)
        {
            var p = SeededInit.Uniform(shape, fanIn, generator, device);
            _parameters.Add(p);
            _names.Add(name);
            return p;
        }
        _input = Add("trunk.graph.input.weight", [AtomWidth + BondWidth, hidden], AtomWidth + BondWidth);
        _hidden = Add("trunk.graph.hidden.weight", [hidden, hidden], hidden);
        _atomOutput = Add("trunk.graph.atom.weight", [AtomWidth + hidden, hidden], AtomWidth + hidden);
        _atomBias = Add("trunk.graph.atom.bias", [hidden], AtomWidth + hidden);
        _readoutWeight = Add("trunk.ffn.0.weight", [hidden, layers[0]], hidden + featureSize);
        if (featureSize > 0) _featureWeight = Add("trunk.ffn.0.features.weight", [featureSize, layers[0]], hidden + featureSize);
        _firstBias = Add("trunk.ffn.0.bias", [layers[0]], hidden + featureSize);
        for (var layer = 1; layer < layers.Length; layer++)
        {
            Add($"trunk.ffn.{layer}.weight", [layers[layer - 1], layers[layer]], layers[layer - 1]);
            Add($"trunk.ffn.{layer}.bias", [layers[layer]], layers[layer - 1]);
        }
    }

    /// <summary>Weights and biases of a graph trunk, the limit <see cref="Training.RunSpec.Validate"/> checks.</summary>
    public static long ParameterCount(int hidden, int featureSize, IReadOnlyList<int> layers)
    {
        long count = (AtomWidth + BondWidth) * (long)hidden + (long)hidden * hidden + (AtomWidth + hidden) * (long)hidden + hidden;
        long fanIn = hidden + featureSize;
        foreach (var size in layers)
        {
            count += fanIn * size + size;
            fanIn = size;
        }
        return count;
    }

    /// <summary>
    /// Training FLOPs (forward and backward, 3× the forward's multiply-adds × 2) of one molecule of
    /// <paramref name="atoms"/> atoms and <paramref name="bonds"/> bonds: W_i on atoms and bonds, depth − 1 products
    /// of W_h on the 2·bonds directed bonds, W_o on the atoms, the layers after the readout. Gathers and sums are left out.
    /// </summary>
    public static double TrainingFlops(double atoms, double bonds, int depth, int hidden, int featureSize, IReadOnlyList<int> layers)
    {
        var multiplyAdds = atoms * AtomWidth * hidden + bonds * BondWidth * hidden + (depth - 1) * 2 * bonds * hidden * (double)hidden
                           + atoms * (AtomWidth + hidden) * (double)hidden;
        double fanIn = hidden + featureSize;
        foreach (var size in layers)
        {
            multiplyAdds += fanIn * size;
            fanIn = size;
        }
        return 3 * 2 * multiplyAdds;
    }

    /// <summary>How many tensors the trunk has (a checkpoint's count is checked against it).</summary>
    public static int TensorCount(int featureSize, int layers) => 4 + (featureSize > 0 ? 3 : 2) + 2 * (layers - 1);

    public ITrunkRows Store(MoleculeInputs inputs, IReadOnlyList<int> rows, Device device)
    {
        if (inputs.Graphs is null) throw new ArgumentException("the graph trunk needs molecular graphs: the data was prepared without them");
        if (inputs.FeatureSize != FeatureSize) throw new ArgumentException($"molecule features of width {inputs.FeatureSize} for a graph trunk reading {FeatureSize}");
        var features = FeatureSize > 0 ? DeviceFeatures.Create(inputs.Features, rows, inputs.FeatureSize, device) : null;
        try { return DeviceGraphs.Create(inputs.Graphs, rows, features, device); }
        catch { features?.Dispose(); throw; }
    }

    public Tensor Forward(ITrunkRows rows, IReadOnlyList<long> positions, BatchDropout? dropout)
    {
        var graphs = (DeviceGraphs)rows;
        var device = _input.device;
        var masks = dropout is null ? null : Dropout.Masks(LayerDropout, dropout.Generator, device, dropout.BatchRows, Layers, dropout.Rows);
        return FeedForward(Molecules(graphs.Assemble(positions)), graphs.MoleculeFeatures, positions, masks);
    }

    public Tensor Embed(ITrunkRows rows)
    {
        var graphs = (DeviceGraphs)rows;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var count = graphs.RowCount;
        var embeddings = empty([count, OutputSize], device: _input.device);
        for (long start = 0; start < count;)
        {
            using var chunkScope = NewDisposeScope();
            // rows until the chunk holds ChunkAtoms atoms (at least one row: a molecule of any size is embedded)
            var length = 1L;
            while (start + length < count && length < Inference.ChunkRows && graphs.AtomsIn(start, length + 1) <= ChunkAtoms) length++;
            var positions = new long[length];
            for (var i = 0; i < length; i++) positions[i] = start + i;
            embeddings.narrow(0, start, length).copy_(FeedForward(Molecules(graphs.Assemble(positions)), graphs.MoleculeFeatures, positions, null));
            start += length;
        }
        return embeddings.MoveToOuterDisposeScope();
    }

    /// <summary>Message passing and readout: [batch rows × hidden].</summary>
    private Tensor Molecules(GraphBatch batch)
    {
        var atoms = batch.AtomFeatures.shape[0];
        // W_i [x_u ‖ e_uv] as W_i,atom x_u + W_i,bond e_uv, each product on the atoms and bonds once
        var atomPart = batch.AtomFeatures.mm(_input.narrow(0, 0, AtomWidth));
        var bondPart = batch.BondFeatures.mm(_input.narrow(0, AtomWidth, BondWidth));
        var initial = Gather(atomPart, batch.Source).add(bondPart.repeat_interleave(2, 0));
        var state = initial.relu();
        for (var step = 1; step < Depth; step++)
        {
            var message = Gather(SumInto(atoms, batch.Target, state), batch.Source).sub(Gather(state, batch.Reverse));
            state = initial.add(message.mm(_hidden)).relu();
        }
        var incoming = SumInto(atoms, batch.Target, state);
        var atomStates = addmm(_atomBias, batch.AtomFeatures, _atomOutput.narrow(0, 0, AtomWidth), 1, 1)
            .add(incoming.mm(_atomOutput.narrow(0, AtomWidth, Hidden))).relu();
        var molecules = SumInto(batch.Rows, batch.AtomRow, atomStates);
        return Readout switch
        {
            GraphReadout.Sum => molecules,
            GraphReadout.Norm => molecules.div(NormScale),
            _ => molecules.div(batch.AtomsPerRow.clamp_min(1).unsqueeze(1)),
        };
    }

    // Gathers and sums over bonds as advanced indexing and an accumulating index_put_, each the other's backward:
    // on the CPU both are vectorised kernels, where index_select's backward (index_add_) adds row by row, 5-20×
    // slower at these sizes (measured); accumulation runs serially on the CPU and sorted on CUDA, so it is deterministic.
    private static Tensor Gather(Tensor rows, Tensor index) => rows.index([index]);

    /// <summary>[count × hidden]: row i is the sum of the rows of <paramref name="values"/> whose index is i.</summary>
    private Tensor SumInto(long count, Tensor index, Tensor values) =>
        zeros([count, Hidden], device: values.device).index_put_(values, [index], accumulate: true);

    /// <summary>The "norm" readout's divisor: chemprop's (a sum that stays on the scale of a mean over ~100 atoms).</summary>
    private const double NormScale = 100;

    /// <summary>The layers after the readout; the first also reads the molecule-level features, if any.</summary>
    private Tensor FeedForward(Tensor molecules, DeviceFeatures? features, IReadOnlyList<long> positions, IReadOnlyList<Tensor>? dropout)
    {
        Tensor x;
        if (_featureWeight is null || features is null) x = addmm(_firstBias, molecules, _readoutWeight, 1, 1);
        else
        {
            var sparse = features.NonZeroRows(positions);
            var fromFeatures = sparse is { Density: <= SparseFirstLayer.MaxDensity }
                ? (_features ??= new SparseFirstLayer(_featureWeight, _firstBias)).Apply(sparse)
                : addmm(_firstBias, features.Rows(tensor(positions.ToArray(), device: molecules.device)), _featureWeight, 1, 1);
            x = fromFeatures.add(molecules.mm(_readoutWeight));
        }
        x = x.relu();
        if (dropout is not null) x = x.mul(dropout[0]);
        for (var layer = 1; layer < Layers.Length; layer++)
        {
            x = addmm(_parameters[_parameters.Count - 2 * (Layers.Length - layer) + 1], x, _parameters[_parameters.Count - 2 * (Layers.Length - layer)], 1, 1).relu();
            if (dropout is not null) x = x.mul(dropout[layer]);
        }
        return x;
    }

    public TensorData[] Export() => _parameters.Select((p, i) => TensorCodec.Encode(_names[i], p)).ToArray();

    public void Load(IReadOnlyList<TensorData> parameters)
    {
        if (parameters.Count != _parameters.Count)
            throw new InvalidDataException($"graph trunk: {parameters.Count} tensors received, {_parameters.Count} expected");
        for (var i = 0; i < parameters.Count; i++) TensorCodec.CopyInto(parameters[i], _parameters[i]);
    }

    public void Dispose()
    {
        _features?.Dispose();
        _features = null;
        foreach (var p in _parameters) p.Dispose();
        _parameters.Clear();
    }
}
