using MtnnCluster.Evaluation;
using MtnnCluster.Model;
namespace MtnnCluster.Training;

/// <summary>One epoch as the coordinator saw it.</summary>
public sealed record EpochReport(
    int Epoch, int Epochs, EpochPhase Phase, double TrainLoss, double ValidScore, double MeanValidRocAuc,
    double Seconds, double RowsPerSecond, bool Improved, long TrunkRows = 0, long ExchangeBytes = 0);

/// <summary>
/// A round of training steps finished: <see cref="Step"/> of <see cref="Steps"/> done in this epoch (a head-only
/// epoch is one round: 1 of 1), <see cref="Rows"/> rows trained on so far this epoch in <see cref="Seconds"/>.
/// </summary>
public sealed record StepProgress(int Epoch, int Epochs, EpochPhase Phase, int Step, int Steps, long Rows, double Seconds);

/// <summary>Which worker trained which tasks.</summary>
public sealed record WorkerAssignment(string WorkerId, string Address, string Device, int Slots, int[] Tasks);

/// <summary>Everything a finished run produced, before it is written out.</summary>
public sealed record RunOutcome(
    string RunId,
    RunSpec Spec,
    PreparedDataset Data,
    IReadOnlyList<EpochReport> History,
    int BestEpoch,
    IReadOnlyList<TaskMetrics> FinalScores,
    IReadOnlyList<WorkerAssignment> Workers,
    TensorData[] Trunk,
    TensorData HeadWeight,
    TensorData HeadBias,
    double WallSeconds,
    IReadOnlyList<RunEvent> Events);

/// <summary>
/// What happened to the run as a whole; written in snake case (<c>worker_lost</c>) in metrics.json and state.json.
/// </summary>
public enum RunEventKind
{
    /// <summary>A worker became unreachable, was removed, or came back as a new process.</summary>
    WorkerLost,
    /// <summary>A worker announced it was shutting down (SIGTERM).</summary>
    WorkerLeft,
    WorkerJoined,
    /// <summary>The run went on from a training checkpoint.</summary>
    Resumed,
    /// <summary>A training checkpoint could not be written (a full disk); the run went on.</summary>
    CheckpointFailed,
}

/// <summary>
/// Something that happened to the run as a whole. <see cref="Epoch"/>: the epoch training went on from;
/// <see cref="ResumedAt"/>: when the workers were training again.
/// </summary>
public sealed record RunEvent(DateTimeOffset Time, RunEventKind Kind, string Worker, int TasksMoved, int Epoch, DateTimeOffset? ResumedAt = null, string? Detail = null)
{
    public double? RecoverySeconds => ResumedAt is { } resumed ? Math.Round((resumed - Time).TotalSeconds, 3) : null;

    /// <summary>The kind as files and logs write it: <c>worker_lost</c>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string KindName => NameOf(Kind);

    public static string NameOf(RunEventKind kind) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(kind.ToString());
}

/// <summary>Where a run stands; each is one behaviour of the coordinator actor.</summary>
public enum RunPhase { WaitingForWorkers, Deploying, Training, Evaluating, Finishing, Finished, Failed }

/// <summary>
/// The run as a whole at a phase change, for watchers (the live report, <c>/status</c>). <see cref="Epoch"/>: the
/// epoch being trained or evaluated, else the last one completed; <see cref="Data"/>: null until it is loaded.
/// Lists are copies, so another thread may read them.
/// </summary>
public sealed record RunStatus(
    string RunId, RunPhase Phase, int Epoch, int Epochs, PreparedDataset? Data, IReadOnlyList<EpochReport> History,
    int BestEpoch, double BestScore, IReadOnlyList<WorkerAssignment> Workers, IReadOnlyList<RunEvent> Events);

/// <summary>What the coordinator reports while it runs; the command line prints it, tests collect it.</summary>
public interface ITrainingObserver
{
    void Info(string message);
    void EpochCompleted(EpochReport report);
    void StepCompleted(StepProgress progress) { } // most observers only want epochs
    void StatusChanged(RunStatus status) { } // only watchers of the whole run want it
    void Completed(RunOutcome outcome);
    void Failed(Exception error);
}
