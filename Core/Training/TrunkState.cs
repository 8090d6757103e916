using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>
/// The trunk at one moment, as snapshots and checkpoints hold it: parameters, optimizer moments and steps, the
/// version (steps the run has taken), and the best copy so far. Tensors are immutable once made.
/// </summary>
public sealed record TrunkState(TensorData[] Parameters, TensorData[] Moments, long OptimizerSteps, long Version, TensorData[]? Best, long? BestVersion);
