using MtnnCluster.Collectives;
using MtnnCluster.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>
/// The trunk's parallelism: every worker holds a whole replica of the trunk and runs it on its own rows; the
/// gradients are summed over the workers so that every replica takes the same optimizer step (or, with --sync-every
/// K &gt; 1, each replica steps alone and they are averaged every K steps: local SGD). Plain tensor math over an
/// <see cref="IProcessGroup"/>: it knows nothing of batches, heads or actors.
/// </summary>
internal sealed class DataParallelTrunk(ITrunk trunk, IProcessGroup group, Device device, OptimizerSpec optimizer, int syncEvery) : IDisposable
{
    private readonly ITrunk _trunk = trunk;
    private readonly IProcessGroup _group = group;
    private readonly Device _device = device;
    private readonly int _syncEvery = syncEvery;
    private float[]? _reduceBuffer;
    // local SGD (--sync-every K > 1): labels this replica stepped on since the last average, its weight in it
    private long _localLabels;

    public AdamW Optimizer { get; } = new(trunk.Parameters, optimizer.LearningRate, optimizer.WeightDecay);

    /// <summary>
    /// Local SGD's step: this replica alone, on the mean over its own rows' cells (<paramref name="ownCells"/>; the
    /// gradients were divided by the batch's <paramref name="batchCells"/>, so they are rescaled).
    /// </summary>
    public void StepLocal(Tensor[] gradients, long ownCells, long batchCells)
    {
        _localLabels += ownCells;
        if (ownCells == 0) return;
        if (ownCells != batchCells)
            using (no_grad())
            using (var rescale = ((double)batchCells / ownCells).ToScalar())
                foreach (var g in gradients) g.mul_(rescale);
        Optimizer.Step(gradients);
    }

    /// <summary>
    /// The synchronous step's reduction and update, with the optimizer sharded as ZeRO's stage 1: the trunk
    /// gradients are summed chunk by chunk (<see cref="GroupChunks"/>), each worker takes the AdamW step of its own
    /// chunk of the trunk (a 1/N share of the optimizer's work; its moments of the other chunks stand still until
    /// <see cref="SnapshotTrunk"/> gathers them), and the stepped chunks are gathered, so every replica ends with
    /// the same bits. The same bytes travel as in an all-reduce. With one worker: one whole step in place.
    /// </summary>
    public void Step(Tensor[] gradients)
    {
        if (_group.Size == 1)
        {
            Optimizer.Step(gradients);
            return;
        }
        var buffer = ReduceBuffer(gradients);
        FlatRange.CopyTo(gradients, 0, buffer);
        _group.ReduceScatterSum(buffer);
        var (start, length) = GroupChunks.Of(buffer.Length, _group.Size, _group.Rank);
        Optimizer.StepElements(start, buffer.AsSpan(start, length));
        FlatRange.CopyTo(_trunk.Parameters, start, buffer.AsSpan(start, length));
        _group.AllGather(buffer);
        FlatRange.CopyFrom(buffer.AsSpan(0, start), _trunk.Parameters, 0);
        FlatRange.CopyFrom(buffer.AsSpan(start + length), _trunk.Parameters, start + length);
    }

    /// <summary>The optimizer's moments, whole on every worker again after sharded steps (a collective: every worker calls it).</summary>
    public void GatherOptimizerState()
    {
        if (_group.Size == 1 || _syncEvery > 1) return; // local SGD steps every element on every replica
        var first = ReduceBuffer(_trunk.Parameters);
        var second = new float[first.Length];
        var (start, length) = GroupChunks.Of(first.Length, _group.Size, _group.Rank);
        Optimizer.CopyMomentsTo(start, first.AsSpan(start, length), second.AsSpan(start, length));
        _group.AllGather(first);
        _group.AllGather(second);
        Optimizer.CopyMomentsFrom(0, first, second);
    }

    private float[] ReduceBuffer(IReadOnlyList<Tensor> tensors)
    {
        var total = tensors.Sum(t => t.numel());
        return _reduceBuffer is { } b && b.Length == total ? b : _reduceBuffer = new float[total];
    }

    /// <summary>In place: each tensor becomes its sum over the workers (no-op with one), through one buffer: a copy each way.</summary>
    private void SumOverWorkers(IReadOnlyList<Tensor> tensors)
    {
        if (_group.Size == 1) return;
        var buffer = ReduceBuffer(tensors);
        FlatRange.CopyTo(tensors, 0, buffer);
        _group.AllReduceSum(buffer);
        FlatRange.CopyFrom(buffer, tensors, 0);
    }

    /// <summary>Local SGD's reduction: the replicas averaged, weighted by the labels each stepped on since the last average.</summary>
    public void AverageReplicas()
    {
        var weight = _localLabels;
        _localLabels = 0;
        if (_group.Size == 1) return;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var scale = ((double)weight).ToScalar();
        var weighted = _trunk.Parameters.Select(p => p.mul(scale)).Append(tensor(new[] { (float)weight }, device: _device)).ToArray();
        SumOverWorkers(weighted);
        var total = weighted[^1].item<float>();
        if (total <= 0) return; // no replica saw a label since the last average: none moved
        using var inverse = (1.0 / total).ToScalar();
        for (var i = 0; i < _trunk.Parameters.Count; i++) _trunk.Parameters[i].copy_(weighted[i].mul(inverse));
    }

    public void Dispose() => Optimizer.Dispose();
}
