using MtnnCluster.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>The master trunk at one moment, as snapshots and checkpoints hold it. Tensors are immutable once made.</summary>
/// <summary>
/// One worker's share of a reduction: tensors in trunk parameter order (gradients of its summed loss, or its trunk
/// after local steps) and the number of labels they were computed on, by which the reduction weights them.
/// </summary>
public sealed record TrunkContribution(string Source, long Labels, TensorData[] Tensors);

public sealed record TrunkState(TensorData[] Parameters, TensorData[] Moments, long OptimizerSteps, long Version, TensorData[]? Best, long? BestVersion);

/// <summary>
/// The coordinator's master copy of the trunk and its optimizer. It reduces the workers' trunk gradients
/// (summed losses, weighted by the labels each summed over) into one step. Knows nothing of actors.
/// </summary>
public sealed class TrunkMaster : IDisposable
{
    private readonly Trunk _trunk;
    private readonly AdamW _optimizer;
    private TensorData[]? _exported;
    private TensorData[]? _best;

    /// <summary>Bumped by every optimizer step; workers' replies name the version they computed on.</summary>
    public long Version { get; private set; }
    public long? BestVersion { get; private set; }

    public TrunkMaster(int inputSize, RunSpec spec)
    {
        _trunk = new Trunk(inputSize, spec.Model.Layers, spec.Seed, CPU);
        _optimizer = new AdamW(_trunk.Parameters, spec.Optimizer.LearningRate, spec.Optimizer.WeightDecay);
    }

    /// <summary>The current parameters as they travel; encoded once per version, shared by every send.</summary>
    public TensorData[] Parameters => _exported ??= _trunk.Export();

    /// <summary>
    /// Sums the gradients of all workers (in the order given, so the result is deterministic), divides by the
    /// total number of labels, and takes one step. Returns false (no step) when no worker had a label.
    /// </summary>
    public bool ApplyGradients(IReadOnlyList<TrunkContribution> contributions)
    {
        var labels = contributions.Sum(c => c.Labels);
        if (labels == 0) return false;
        using var scope = NewDisposeScope();
        var sums = _trunk.Parameters.Select(p => zeros_like(p)).ToArray();
        foreach (var contribution in contributions)
        {
            if (contribution.Tensors.Length != sums.Length)
                throw new InvalidDataException($"gradient from {contribution.Source}: {contribution.Tensors.Length} tensors, {sums.Length} expected");
            for (var i = 0; i < sums.Length; i++)
                sums[i].add_(TensorCodec.Decode(contribution.Tensors[i]), Scalars.One);
        }
        using var count = ((double)labels).ToScalar();
        foreach (var s in sums) s.div_(count);
        _optimizer.Step(sums);
        Version++;
        _exported = null;
        return true;
    }

    /// <summary>
    /// Local SGD's reduction: the workers' trunks averaged, weighted by the labels each trained on, become the
    /// master trunk. Returns false (unchanged) when no worker had a label.
    /// </summary>
    public bool Average(IReadOnlyList<TrunkContribution> trunks)
    {
        var labels = trunks.Sum(t => t.Labels);
        if (labels == 0) return false;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var sums = _trunk.Parameters.Select(p => zeros_like(p)).ToArray();
        foreach (var local in trunks)
        {
            if (local.Tensors.Length != sums.Length)
                throw new InvalidDataException($"trunk from {local.Source}: {local.Tensors.Length} tensors, {sums.Length} expected");
            using var weight = ((double)local.Labels / labels).ToScalar();
            for (var i = 0; i < sums.Length; i++)
                sums[i].add_(TensorCodec.Decode(local.Tensors[i]), weight);
        }
        for (var i = 0; i < sums.Length; i++) _trunk.Parameters[i].copy_(sums[i]);
        Version++;
        _exported = null;
        return true;
    }

    /// <summary>Everything needed to continue from here: parameters, optimizer moments and steps, version, best copy.</summary>
    public TrunkState Snapshot() => new(Parameters, _optimizer.ExportMoments(), _optimizer.StepCount, Version, _best, BestVersion);

    public void Restore(TrunkState state)
    {
        _trunk.Load(state.Parameters);
        _optimizer.ImportMoments(state.Moments, state.OptimizerSteps);
        Version = state.Version;
        _exported = state.Parameters;
        _best = state.Best;
        BestVersion = state.BestVersion;
    }

    public void KeepBest()
    {
        _best = Parameters;
        BestVersion = Version;
    }

    public void RestoreBest()
    {
        if (_best is null) return;
        _trunk.Load(_best);
        _exported = _best;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _trunk.Dispose();
    }
}
