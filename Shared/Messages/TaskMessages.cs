using MessagePack;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Messages;

/// <summary>
/// Coordinator of <c>add-tasks</c> → worker: fit the heads of new tasks <see cref="Tasks"/> (indices among the
/// tasks of the dataset <see cref="Spec"/> names, which the worker loads as for a run) on <see cref="Trunk"/>,
/// frozen. <see cref="Spec"/> is the trained model's, with the new data's dataset. <see cref="ExpectedFingerprint"/>:
/// the SHA-256 of the data as the coordinator read it (null: not checked).
/// </summary>
[MessagePackObject]
public sealed record FitHeads(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunSpec Spec,
    [property: Key(2)] TensorData[] Trunk,
    [property: Key(3)] int[] Tasks,
    [property: Key(4)] string? ExpectedFingerprint = null) : IRunMessage;

/// <summary>What was chosen for one new task's head (<c>HeadFit</c> on the wire).</summary>
[MessagePackObject]
public sealed record FittedHeadSummary(
    [property: Key(0)] int Labels,
    [property: Key(1)] int Positives,
    [property: Key(2)] double L2,
    [property: Key(3)] double HeldOutLoss,
    [property: Key(4)] double ScaleMean,
    [property: Key(5)] double ScaleStd)
{
    public static FittedHeadSummary Of(HeadFit fit) => new(fit.Labels, fit.Positives, fit.L2, fit.HeldOutLoss, fit.Scale.Mean, fit.Scale.Std);
    public HeadFit ToFit() => new(Labels, Positives, L2, HeldOutLoss, new TargetScale(ScaleMean, ScaleStd));
}

/// <summary>Worker → coordinator of <c>add-tasks</c>: the heads of <see cref="Tasks"/> ([hidden × tasks], columns in that order).</summary>
[MessagePackObject]
public sealed record HeadsFitted(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int[] Tasks,
    [property: Key(3)] TensorData Weight,
    [property: Key(4)] TensorData Bias,
    [property: Key(5)] FittedHeadSummary[] Fits) : IRunMessage
{
    public static HeadsFitted Of(string runId, string workerId, FittedHeads fitted) =>
        new(runId, workerId, fitted.Tasks, fitted.Weight, fitted.Bias, fitted.Fits.Select(FittedHeadSummary.Of).ToArray());

    public FittedHeads ToFitted() => new(Tasks, Weight, Bias, Fits.Select(f => f.ToFit()).ToArray());
}
