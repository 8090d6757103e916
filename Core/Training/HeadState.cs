using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>
/// The heads of some tasks with their AdamW moments: what a worker hands to the coordinator at every epoch end so
/// that its tasks can move to another worker, or the run resume, without starting those heads over. Weight is
/// [hidden × tasks], columns in the order of <see cref="TaskIndices"/>; moments have the shapes of their
/// parameters (absent in a best-heads copy, which needs none).
/// </summary>
public sealed record HeadState(
    int[] TaskIndices,
    TensorData Weight,
    TensorData Bias,
    TensorData[]? Moments,
    long OptimizerSteps);
