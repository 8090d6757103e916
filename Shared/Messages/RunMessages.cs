using MessagePack;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Messages;

/// <summary>
/// Coordinator → worker: take part in this run attempt as rank <see cref="Rank"/> of <see cref="Peers"/>.Length
/// workers. Rows are placed by <see cref="SlotsByRank"/> (<c>RowPlacement</c>), tasks by <see cref="TaskRanks"/>
/// (the rank owning each dataset task). The worker loads the dataset the spec names (shared storage on a cluster;
/// the process cache in one process), joins the attempt's process group through <see cref="Peers"/> (each rank's
/// exchange endpoint, empty in one process) and starts from <see cref="Trunk"/>, <see cref="Heads"/> and
/// <see cref="BestHeads"/> (null: fresh, seeded). <see cref="ExpectedFingerprint"/>: the SHA-256 of the data
/// file as the coordinator read it; a worker that reads other bytes refuses the run (null: not checked).
/// <see cref="GroupToken"/>: the attempt's random secret, which every connection of its process group presents.
/// </summary>
[MessagePackObject]
public sealed record StartRun(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunSpec Spec,
    [property: Key(2)] int Rank,
    [property: Key(3)] int[] SlotsByRank,
    [property: Key(4)] int[] TaskRanks,
    [property: Key(5)] string[] Peers,
    [property: Key(6)] TrunkState? Trunk = null,
    [property: Key(7)] HeadState? Heads = null,
    [property: Key(8)] HeadState? BestHeads = null,
    [property: Key(9)] string? ExpectedFingerprint = null,
    [property: Key(10)] byte[]? GroupToken = null) : IRunMessage;

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
/// Coordinator → worker: run steps <see cref="Step"/>..<see cref="Step"/>+<see cref="Count"/>-1 of the epoch's
/// <see cref="Steps"/> with the other workers (embeddings and gradients among them, not through the coordinator),
/// then answer with <see cref="StepsDone"/>. In the joint phase heads and trunk update; in the trunk phase the heads
/// stay frozen. With --sync-every K the replicas are averaged every K steps.
/// </summary>
[MessagePackObject]
public sealed record TrainSteps(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] EpochPhase Phase,
    [property: Key(3)] int Step,
    [property: Key(4)] int Count,
    [property: Key(5)] int Steps) : IRunMessage;

/// <summary>
/// Worker → coordinator: the steps are done: the loss summed over its tasks' labelled cells and their count, the
/// rows it ran the trunk on, and the bytes it sent to other workers.
/// </summary>
[MessagePackObject]
public sealed record StepsDone(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] int Step,
    [property: Key(4)] double LossSum,
    [property: Key(5)] long Labels,
    [property: Key(6)] int Rows,
    [property: Key(7)] long BytesSent) : IRunMessage;

/// <summary>
/// Coordinator → worker: one head-only epoch of <see cref="Steps"/> batches (as many as a trunk-updating epoch) on
/// the frozen trunk: embeddings exchanged once, then no traffic until it ends.
/// </summary>
[MessagePackObject]
public sealed record HeadEpoch(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] int Steps) : IRunMessage;

/// <summary>Worker → coordinator: the head-only epoch is done.</summary>
[MessagePackObject]
public sealed record HeadEpochDone(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] double LossSum,
    [property: Key(4)] long Labels,
    [property: Key(5)] int Rows,
    [property: Key(6)] long BytesSent) : IRunMessage;

/// <summary>
/// Coordinator → worker: score these splits with the current trunk and heads (data-parallel, as a step); with
/// <see cref="Snapshot"/>, send the heads too, and rank 0 the trunk with its optimizer.
/// </summary>
[MessagePackObject]
public sealed record Evaluate(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] Split[] Splits,
    [property: Key(3)] bool Snapshot = false) : IRunMessage;

/// <summary>Worker → coordinator: the scores of its tasks (and, for a snapshot, its heads; rank 0's also the trunk).</summary>
[MessagePackObject]
public sealed record EvaluationResult(
    [property: Key(0)] string RunId,
    [property: Key(1)] string WorkerId,
    [property: Key(2)] int Epoch,
    [property: Key(3)] TaskMetrics[] Scores,
    [property: Key(4)] HeadState? Heads = null,
    [property: Key(5)] TrunkState? Trunk = null) : IRunMessage;

/// <summary>Coordinator → worker: the current trunk and heads are the best so far (early stopping); keep a copy.</summary>
[MessagePackObject]
public sealed record KeepBest([property: Key(0)] string RunId, [property: Key(1)] int Epoch) : IRunMessage;

/// <summary>Coordinator → worker: go back to the trunk and heads kept by the last <see cref="KeepBest"/>.</summary>
[MessagePackObject]
public sealed record RestoreBest([property: Key(0)] string RunId) : IRunMessage;

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

/// <summary>
/// Coordinator → worker: the run is over; free its tensors. <see cref="KeepWorker"/>: the worker is wanted for
/// another job of the same coordinator (a group's next run), so it registers again instead of leaving.
/// </summary>
[MessagePackObject]
public sealed record EndRun([property: Key(0)] string RunId, [property: Key(1)] bool KeepWorker = false) : IRunMessage;
