using System.Diagnostics;
using System.Diagnostics.Metrics;
using MtnnCluster.Training;

namespace MtnnCluster.Telemetry;

/// <summary>
/// The project's OpenTelemetry instruments (one Meter, one ActivitySource, both named <see cref="Name"/>). Names
/// follow OpenTelemetry conventions (dotted, unit apart); Prometheus shows them with underscores and unit or
/// <c>_total</c> suffixes (mtnn.train.step.duration → mtnn_train_step_duration_seconds). Recording is cheap and
/// goes nowhere until an exporter listens (<see cref="TelemetryExport"/>).
/// </summary>
public static class MtnnTelemetry
{
    public const string Name = "MtnnCluster";

    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    /// <summary>Seconds from a millisecond to minutes: steps, exchanges and rounds all fall in this range.</summary>
    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    };

    private static readonly Counter<long> TrainRows = Meter.CreateCounter<long>("mtnn.train.rows", "{row}", "training rows a worker has processed (forward and backward, or head-only)");
    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram("mtnn.train.step.duration", "s", "time a worker spends on one request of the coordinator: a round of steps, or a head-only epoch", advice: Seconds);
    private static readonly Counter<long> ExchangeBytes = Meter.CreateCounter<long>("mtnn.exchange.bytes", "By", "bytes of protocol messages sent to (or reassembled from) remote nodes");
    private static readonly Histogram<double> ExchangeDuration = Meter.CreateHistogram("mtnn.exchange.duration", "s", "send: serialize, hash and queue a remote message; receive: first to last chunk of a chunked one", advice: Seconds);
    private static readonly Histogram<double> RoundDuration = Meter.CreateHistogram("mtnn.round.duration", "s", "coordinator: one round, from sending a request to every worker to the last answer", advice: Seconds);
    private static readonly Gauge<double> TaskLoss = Meter.CreateGauge<double>("mtnn.task.loss", null, "training loss per labelled entry of one task over the last epoch (worker-side, one series per task)");
    private static readonly Gauge<double> TrainLoss = Meter.CreateGauge<double>("mtnn.train.loss", null, "training loss per labelled entry over the last epoch, all tasks");
    private static readonly Gauge<double> ValidationScore = Meter.CreateGauge<double>("mtnn.validation.score", null, "validation score after the last epoch: mean ROC-AUC of classification tasks and R² of regression tasks");
    private static readonly Gauge<int> Epoch = Meter.CreateGauge<int>("mtnn.epoch", "{epoch}", "the last epoch completed");
    private static readonly Gauge<int> Workers = Meter.CreateGauge<int>("mtnn.workers.alive", "{worker}", "workers the coordinator counts as members of the run");
    private static readonly Counter<long> Reassignments = Meter.CreateCounter<long>("mtnn.reassignments", "{reassignment}", "times the coordinator moved a lost worker's tasks to others");
    private static readonly Counter<long> ReassignedTasks = Meter.CreateCounter<long>("mtnn.reassigned.tasks", "{task}", "tasks moved from lost workers to others");
    private static readonly Counter<long> RefusedMessages = Meter.CreateCounter<long>("mtnn.messages.refused", "{message}", "control messages and connections refused because they came from elsewhere than the actor or peer they must come from");
    private static readonly Counter<long> CheckpointFailures = Meter.CreateCounter<long>("mtnn.checkpoint.failures", "{checkpoint}", "training checkpoints the coordinator could not write (the run goes on)");

    /// <summary>A worker answered one request: <paramref name="kind"/> is joint, trunk, heads or local.</summary>
    public static void StepCompleted(string kind, int rows, long startTimestamp)
    {
        var phase = new KeyValuePair<string, object?>("phase", kind);
        TrainRows.Add(rows, phase);
        StepDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, phase);
    }

    public static string PhaseName(EpochPhase phase) => phase.ToString().ToLowerInvariant();

    /// <summary>A protocol message went to, or was reassembled from, a remote node.</summary>
    public static void Exchanged(string direction, string message, long bytes, long startTimestamp)
    {
        var tags = new TagList { { "direction", direction }, { "message", message } };
        ExchangeBytes.Add(bytes, tags);
        ExchangeDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    public static void RoundCompleted(string kind, double seconds) =>
        RoundDuration.Record(seconds, new KeyValuePair<string, object?>("round", kind));

    /// <summary>One task's training loss per labelled entry over the epoch just trained.</summary>
    public static void TaskLossMeasured(string task, double loss) =>
        TaskLoss.Record(loss, new KeyValuePair<string, object?>("task", task));

    public static void EpochCompleted(int epoch, EpochPhase phase, double trainLoss, double validScore)
    {
        var tag = new KeyValuePair<string, object?>("phase", PhaseName(phase));
        Epoch.Record(epoch);
        if (!double.IsNaN(trainLoss)) TrainLoss.Record(trainLoss, tag);
        if (!double.IsNaN(validScore)) ValidationScore.Record(validScore);
    }

    /// <summary>
    /// A message or connection refused as a stranger's (<paramref name="what"/>: its type, or the kind of connection), at
    /// <paramref name="where"/> (worker, coordinator, collectives, data-plane). Meant for an alert: nothing the cluster
    /// does itself is refused once it runs.
    /// </summary>
    public static void Refused(string where, string what) =>
        RefusedMessages.Add(1, new TagList { { "at", where }, { "message", what } });

    public static void WorkersAlive(int count) => Workers.Record(count);

    /// <summary>A training checkpoint could not be written (a full disk, say); an alert should see it, the run does not stop.</summary>
    public static void CheckpointFailed() => CheckpointFailures.Add(1);

    /// <summary>The coordinator moved a lost worker's <paramref name="tasksMoved"/> tasks to the remaining workers.</summary>
    public static void WorkerReassigned(int tasksMoved)
    {
        Reassignments.Add(1);
        ReassignedTasks.Add(tasksMoved);
    }
}
