using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>
/// The heads of some tasks with their AdamW moments: what a worker hands to the coordinator at every epoch end so
/// that its tasks can move to another worker, or the run resume, without starting those heads over. Weight is
/// [hidden × tasks], columns in the order of <see cref="TaskIndices"/>; moments have the shapes of their
/// parameters (absent in a best-heads copy, which needs none). <see cref="HeadSteps"/>: each head's optimizer steps
/// in the same order (heads step only when a batch labels their task); null in state from before per-head counts,
/// where every head took <see cref="OptimizerSteps"/>, which is otherwise the largest of them.
/// </summary>
public sealed record HeadState(
    int[] TaskIndices,
    TensorData Weight,
    TensorData Bias,
    TensorData[]? Moments,
    long OptimizerSteps,
    long[]? HeadSteps = null)
{
    public long[] StepsPerHead() => HeadSteps ?? Enumerable.Repeat(OptimizerSteps, TaskIndices.Length).ToArray();
}
