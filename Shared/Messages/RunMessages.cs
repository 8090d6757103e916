using MessagePack;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Messages;

/// <summary>
/// Coordinator → worker: train these tasks of this run. The worker loads the rows labelled for them from the
/// dataset the spec names (shared storage on a cluster; the process cache in one process). <see cref="Heads"/>
/// and <see cref="BestHeads"/> carry the heads to start from when the run resumes or tasks moved between
/// workers (null: fresh heads, seeded by task). <see cref="ExpectedFingerprint"/>: the SHA-256 of the data file as
/// the coordinator read it; a worker that reads other bytes refuses the run (null: not checked).
/// </summary>
[MessagePackObject]
public sealed record StartRun(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunSpec Spec,
    [property: Key(2)] int[] TaskIndices,
    [property: Key(3)] HeadState? Heads = null,
    [property: Key(4)] HeadState? BestHeads = null,
    [property: Key(5)] string? ExpectedFingerprint = null) : IRunMessage;

/// <summary>Worker → coordinator: this node is shutting down (SIGTERM); move my tasks now rather than after the failure detector.</summary>
[MessagePackObject]
public sealed record WorkerLeaving([property: Key(0)] string WorkerId) : IMtnnMessage;

/// <summary>Worker → coordinator: rows loaded, heads initialised.</summary>
[MessagePackObject]
public sealed record WorkerReady(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int TrainRows,
    [property: Key(3)] long TrainLabels) : IRunMessage;

/// <summary>Worker → coordinator: the run could not start or continue on this worker.</summary>
[MessagePackObject]
public sealed record WorkerFailed(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] string Reason) : IRunMessage;

/// <summary>
/// Coordinator → worker: one synchronous trunk step. The worker loads <see cref="Trunk"/>, runs its batch
/// <see cref="Step"/> of <see cref="Steps"/>, and answers with a <see cref="TrunkGradient"/>. In the joint phase
/// it also updates its heads; in the trunk phase its heads stay frozen.
/// </summary>
[MessagePackObject]
public sealed record TrunkStep(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] int Step,
    [property: Key(3)] int Steps,
    [property: Key(4)] EpochPhase Phase,
    [property: Key(5)] long Version,
    [property: Key(6)] TensorData[] Trunk) : IRunMessage;

/// <summary>
/// Coordinator → worker, with --sync-every K &gt; 1 (local SGD): from <see cref="Trunk"/>, run batches
/// Step..Step+K-1 with the worker's own trunk optimizer and answer with a <see cref="LocalTrunk"/>. K is the run
/// spec's; heads update or stay frozen as in <see cref="TrunkStep"/>.
/// </summary>
[MessagePackObject]
public sealed record LocalTrunkSteps(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] int Step,
    [property: Key(3)] int Steps,
    [property: Key(4)] EpochPhase Phase,
    [property: Key(5)] long Version,
    [property: Key(6)] TensorData[] Trunk) : IRunMessage;

/// <summary>Worker → coordinator: its trunk after K local steps, and the labels those steps summed over.</summary>
[MessagePackObject]
public sealed record LocalTrunk(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] int Step,
    [property: Key(4)] double LossSum,
    [property: Key(5)] long Labels,
    [property: Key(6)] int Rows,
    [property: Key(7)] TensorData[] Trunk) : IRunMessage;

/// <summary>
/// Worker → coordinator: the gradient of the summed (not averaged) loss of its tasks on its batch, with the
/// number of labels it summed over, so that the coordinator can weight workers by labelled counts.
/// </summary>
[MessagePackObject]
public sealed record TrunkGradient(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] int Step,
    [property: Key(4)] long Version,
    [property: Key(5)] double LossSum,
    [property: Key(6)] long Labels,
    [property: Key(7)] int Rows,
    [property: Key(8)] TensorData[] Gradients) : IRunMessage;

/// <summary>
/// Coordinator → worker: one head-only epoch of <see cref="Steps"/> batches (as many as a trunk-updating epoch) on
/// this (frozen) trunk; no traffic until it ends.
/// </summary>
[MessagePackObject]
public sealed record HeadEpoch(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] int Steps,
    [property: Key(3)] long Version,
    [property: Key(4)] TensorData[] Trunk) : IRunMessage;

/// <summary>Worker → coordinator: the head-only epoch is done.</summary>
[MessagePackObject]
public sealed record HeadEpochDone(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] double LossSum,
    [property: Key(4)] long Labels,
    [property: Key(5)] int Rows) : IRunMessage;

/// <summary>Coordinator → worker: score these splits with this trunk and your heads; with <see cref="Snapshot"/>, send your heads too.</summary>
[MessagePackObject]
public sealed record Evaluate(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] long Version,
    [property: Key(3)] Split[] Splits,
    [property: Key(4)] TensorData[] Trunk,
    [property: Key(5)] bool Snapshot = false) : IRunMessage;

/// <summary>Worker → coordinator: the scores of its tasks.</summary>
[MessagePackObject]
public sealed record EvaluationResult(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] TaskMetrics[] Scores,
    [property: Key(4)] HeadState? Heads = null) : IRunMessage;

/// <summary>Coordinator → worker: the current heads are the best so far (early stopping); keep a copy.</summary>
[MessagePackObject]
public sealed record KeepBestHeads([property: Key(0)] string RunId, [property: Key(1)] int Epoch) : IRunMessage;

/// <summary>Coordinator → worker: go back to the heads kept by the last <see cref="KeepBestHeads"/>.</summary>
[MessagePackObject]
public sealed record RestoreBestHeads([property: Key(0)] string RunId) : IRunMessage;

/// <summary>Coordinator → worker: send me your heads.</summary>
[MessagePackObject]
public sealed record FetchHeads([property: Key(0)] string RunId) : IRunMessage;

/// <summary>
/// Worker → coordinator: the heads of its tasks, as one [hidden × tasks] weight matrix and a bias per task,
/// columns in the order of <see cref="TaskIndices"/>.
/// </summary>
[MessagePackObject]
public sealed record HeadShard(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int[] TaskIndices,
    [property: Key(3)] TensorData Weight,
    [property: Key(4)] TensorData Bias) : IRunMessage;

/// <summary>Coordinator → worker: the run is over; free its tensors.</summary>
[MessagePackObject]
public sealed record EndRun([property: Key(0)] string RunId) : IRunMessage;
