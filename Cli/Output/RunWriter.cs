using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Messages;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Output;

/// <summary>Writes a finished run into its output directory: <c>checkpoint/</c>, <c>metrics.json</c>, then <c>report.html</c>.</summary>
public static class RunWriter
{
    /// <summary>Tries of the final write: a disk that is full at the end may get space back (logs rotated, another job's files removed).</summary>
    public const int Attempts = 3;
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A report that cannot be written is reported to <paramref name="warn"/> (default: standard error), never fails
    /// the run. The model and metrics.json are retried; if they still cannot be written, nothing is removed (the
    /// training checkpoints hold the finished run) and <see cref="OutputsNotWrittenException"/> says where it is.
    /// </summary>
    /// <param name="removeTrainingCheckpoints">The run finished: its training checkpoints go once the model is written (unless --keep-checkpoints).</param>
    public static void Write(string outDirectory, RunOutcome outcome, Action<string>? warn = null, bool removeTrainingCheckpoints = false)
    {
        warn ??= message => Console.Error.WriteLine($"warning: {message}");
        var metrics = RunMetrics.From(outcome);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                WriteModelAndMetrics(outDirectory, outcome, metrics);
                break;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == Attempts) throw new OutputsNotWrittenException(outDirectory, e);
                warn($"could not write the run's outputs to {outDirectory} ({e.Message}); trying again in {RetryDelay.TotalSeconds:0} s ({attempt}/{Attempts})");
                Thread.Sleep(RetryDelay);
            }
        }
        RunOutputs.TryWrite(outDirectory, outcome, warn);
        ReportWriter.TryWrite(outDirectory, metrics, warn);
        if (removeTrainingCheckpoints) RunOutputs.RemoveTrainingCheckpoints(outDirectory, warn);
    }

    private static void WriteModelAndMetrics(string outDirectory, RunOutcome outcome, RunMetrics metrics)
    {
        Directory.CreateDirectory(outDirectory);
        var data = outcome.Data;
        var model = new CheckpointModel(Checkpoint.CurrentFormat, outcome.RunId, outcome.Spec,
            data.Tasks.Select((t, i) => new CheckpointTask(t.Name, t.Kind, data.Scales[i].Mean, data.Scales[i].Std)).ToArray(),
            data.FeatureSize, data.Fingerprint, outcome.BestEpoch, DateTimeOffset.UtcNow);
        new Checkpoint(model, outcome.Trunk, outcome.HeadWeight, outcome.HeadBias).Write(Path.Combine(outDirectory, "checkpoint"));
        var path = Path.Combine(outDirectory, "metrics.json");
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(metrics, Checkpoint.Json));
    }
}

/// <summary>
/// The run finished but its outputs could not be written: names the newest training checkpoint that verifies (the
/// finished model, or the latest state a resume goes on from) and how to finish the writing.
/// </summary>
public sealed class OutputsNotWrittenException(string outDirectory, Exception cause) : Exception(Describe(outDirectory, cause), cause)
{
    private static string Describe(string outDirectory, Exception cause)
    {
        var written = $"the run finished, but its model and metrics.json could not be written to {outDirectory} after {RunWriter.Attempts} tries ({cause.Message}). ";
        try
        {
            if (TrainingCheckpoint.LoadLatest(Path.Combine(outDirectory, TrainingCheckpoint.DirectoryName), _ => { }) is { } latest)
            {
                var state = latest.Checkpoint.State;
                return written + $"Nothing was removed: the training checkpoint {latest.Directory} holds the run as of epoch {state.CompletedEpochs} " +
                       $"({state.History.Count} epochs in its history); free space, then run the same command with --resume {outDirectory} to finish the writing";
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return written + $"No training checkpoint can be read either ({e.Message}): the model is lost";
        }
        return written + "No training checkpoint was written either: the model is lost";
    }
}

/// <summary>The shape of metrics.json. NaN (a metric that does not apply, or a single-class split) is written as null.</summary>
public sealed record RunMetrics(
    string RunId,
    string Dataset,
    string Schedule,
    string Split,
    int Rows,
    int InvalidSmiles,
    int EpochsRun,
    int BestEpoch,
    double WallSeconds,
    double? MeanTrainRocAuc,
    double? MeanValidRocAuc,
    double? MeanTestRocAuc,
    double? MeanValidPrcAuc,
    double? MeanTestPrcAuc,
    double? MeanTestRmse,
    double? MeanTestR2,
    IReadOnlyList<TaskReport> Tasks,
    IReadOnlyList<WorkerReport> Workers,
    IReadOnlyList<EpochHistory> History,
    IReadOnlyList<RunEvent> Events,
    int MinClassCount = MetricSummary.DefaultMinClassCount,
    IReadOnlyList<SplitScoring>? Scoring = null,
    IReadOnlyList<DatasetReport>? Datasets = null,
    string? CommandLine = null,
    RunSpec? Options = null)
{
    /// <summary>The headline means are over the tasks of the evaluated datasets (<c>--eval-datasets</c>; default all).</summary>
    public static RunMetrics From(RunOutcome outcome)
    {
        var metrics = outcome.FinalScores;
        var minClassCount = outcome.Spec.MinClassCount;
        // in the data's task order, whichever worker answered first: a mean over floats depends on the order summed
        var order = outcome.Data.Tasks.Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i);
        var evaluated = metrics.Where(m => outcome.Data.IsEvaluated(m.Task)).OrderBy(m => order.GetValueOrDefault(m.Task, int.MaxValue)).ToArray();
        double? Mean(Data.Split split, Func<TaskMetrics, double> pick) => Nullable(MetricSummary.MeanScored(evaluated.Where(m => m.Split == split), pick, minClassCount));
        var bySplit = metrics.ToLookup(m => (m.Task, m.Split));
        var datasetOf = outcome.Data.Datasets.SelectMany(d => d.Tasks.Select(t => (t, d.Name))).ToDictionary(p => p.t, p => p.Name);
        var workerOf = outcome.Workers.SelectMany(w => w.Tasks.Select(t => (t, w.WorkerId))).ToDictionary(p => p.t, p => p.WorkerId);
        var tasks = outcome.Data.Tasks.Select((task, i) =>
        {
            TaskMetrics? Of(Data.Split split) => bySplit[(task.Name, split)].FirstOrDefault();
            var (train, valid, test) = (Of(Data.Split.Train), Of(Data.Split.Valid), Of(Data.Split.Test));
            return new TaskReport(task.Name, task.Kind.ToString().ToLowerInvariant(), workerOf.GetValueOrDefault(i, ""),
                train?.Labelled ?? 0, train?.Positives ?? 0, valid?.Labelled ?? 0, valid?.Positives ?? 0, test?.Labelled ?? 0, test?.Positives ?? 0,
                Nullable(train?.RocAuc), Nullable(valid?.RocAuc), Nullable(test?.RocAuc), Nullable(valid?.PrcAuc), Nullable(test?.PrcAuc),
                Nullable(test?.Rmse), Nullable(test?.Mae), Nullable(test?.R2),
                new[] { train, valid, test }.Where(m => m is { SingleClass: true }).Select(m => m!.Split.ToString().ToLowerInvariant()).ToArray(),
                new[] { train, valid, test }.Where(m => m is not null && !MetricSummary.IsScored(m, minClassCount)).Select(m => m!.Split.ToString().ToLowerInvariant()).ToArray(),
                datasetOf[i]);
        }).ToArray();
        var scoring = new[] { Data.Split.Train, Data.Split.Valid, Data.Split.Test }
            .Select(split => SplitScoring.From(split, MetricSummary.Count(metrics.Where(m => m.Split == split), minClassCount))).ToArray();
        return new RunMetrics(outcome.RunId, outcome.Data.Path, outcome.Spec.Schedule.Kind.ToString().ToLowerInvariant(), outcome.Spec.Split.Kind.ToString().ToLowerInvariant(),
            outcome.Data.RowCount, outcome.Data.InvalidSmiles, outcome.History.Count, outcome.BestEpoch, Math.Round(outcome.WallSeconds, 3),
            Mean(Data.Split.Train, m => m.RocAuc), Mean(Data.Split.Valid, m => m.RocAuc), Mean(Data.Split.Test, m => m.RocAuc),
            Mean(Data.Split.Valid, m => m.PrcAuc), Mean(Data.Split.Test, m => m.PrcAuc), Mean(Data.Split.Test, m => m.Rmse), Mean(Data.Split.Test, m => m.R2),
            tasks,
            outcome.Workers.Select(w => new WorkerReport(w.WorkerId, w.Address, w.Device, w.Slots, w.Tasks.Select(t => outcome.Data.Tasks[t].Name).ToArray())).ToArray(),
            outcome.History.Select(EpochHistory.Of).ToArray(),
            outcome.Events, minClassCount, scoring, outcome.Data.Datasets.Select(d => DatasetReport.Of(d, outcome.Data, bySplit, minClassCount)).ToArray(),
            RunOutputs.CommandLine, outcome.Spec); // how the model was trained: every resolved option, and what was typed
    }

    /// <summary>
    /// A run still training, for its live report: history, workers and events so far; no per-task scores or means
    /// (those need the final evaluation).
    /// </summary>
    public static RunMetrics SoFar(RunStatus status, RunSpec spec, double wallSeconds)
    {
        var names = status.Data?.Tasks.Select(t => t.Name).ToArray() ?? [];
        return new RunMetrics(status.RunId, status.Data?.Path ?? string.Join(", ", spec.Dataset.Paths), spec.Schedule.Kind.ToString().ToLowerInvariant(),
            spec.Split.Kind.ToString().ToLowerInvariant(), status.Data?.RowCount ?? 0, status.Data?.InvalidSmiles ?? 0, status.History.Count,
            status.BestEpoch, Math.Round(wallSeconds, 3), null, null, null, null, null, null, null, [],
            status.Workers.Select(w => new WorkerReport(w.WorkerId, w.Address, w.Device, w.Slots, w.Tasks.Select(t => names[t]).ToArray())).ToArray(),
            status.History.Select(EpochHistory.Of).ToArray(), status.Events, spec.MinClassCount, CommandLine: RunOutputs.CommandLine, Options: spec);
    }

    internal static double? Nullable(double? value) => value is { } v && double.IsFinite(v) ? v : null;
}

public sealed record TaskReport(
    string Name, string Kind, string Worker,
    int TrainLabels, int TrainPositives, int ValidLabels, int ValidPositives, int TestLabels, int TestPositives,
    double? TrainRocAuc, double? ValidRocAuc, double? TestRocAuc, double? ValidPrcAuc, double? TestPrcAuc,
    double? TestRmse, double? TestMae, double? TestR2, string[] SingleClassIn, string[]? NotScoredIn = null, string? Dataset = null);

/// <summary>
/// One data file's share of a run: its tasks, the molecules labelled for them, and the means over its own tasks (the
/// scored ones, as the run's means). <see cref="Evaluated"/>: its tasks count for early stopping and the headline.
/// </summary>
public sealed record DatasetReport(string Name, string Path, int Tasks, int Molecules, bool Evaluated,
    double? MeanTrainRocAuc, double? MeanValidRocAuc, double? MeanTestRocAuc, double? MeanValidPrcAuc, double? MeanTestPrcAuc,
    double? MeanTestRmse, double? MeanTestR2)
{
    public static DatasetReport Of(DatasetPart part, PreparedDataset data, ILookup<(string Task, Data.Split Split), TaskMetrics> scores, int minClassCount)
    {
        var names = part.Tasks.Select(t => data.Tasks[t].Name).ToArray();
        double? Mean(Data.Split split, Func<TaskMetrics, double> pick) =>
            RunMetrics.Nullable(MetricSummary.MeanScored(names.SelectMany(n => scores[(n, split)]), pick, minClassCount));
        var own = new bool[data.TaskCount];
        foreach (var t in part.Tasks) own[t] = true;
        var molecules = 0;
        for (var row = 0; row < data.RowCount; row++)
            foreach (var t in data.Labels.TasksOf(row))
                if (own[t]) { molecules++; break; }
        return new DatasetReport(part.Name, part.Path, part.Tasks.Length, molecules, data.EvalDatasets.Contains(part.Name),
            Mean(Data.Split.Train, m => m.RocAuc), Mean(Data.Split.Valid, m => m.RocAuc), Mean(Data.Split.Test, m => m.RocAuc),
            Mean(Data.Split.Valid, m => m.PrcAuc), Mean(Data.Split.Test, m => m.PrcAuc), Mean(Data.Split.Test, m => m.Rmse), Mean(Data.Split.Test, m => m.R2));
    }
}

/// <summary>
/// How many tasks of a split entered its means (<see cref="MetricSummary.IsScored"/>), and why the others did not: no
/// labels there, one class only, fewer than <c>min_class_count</c> positives or negatives, or regression labels that do not vary.
/// </summary>
public sealed record SplitScoring(string Split, int Tasks, int Scored, int NoLabels, int OneClass, int FewerThanMinClass, int ConstantLabels)
{
    public static SplitScoring From(Data.Split split, ScoringCount count) =>
        new(split.ToString().ToLowerInvariant(), count.Tasks, count.Scored, count.NoLabels, count.OneClass, count.FewerThanMinClass, count.ConstantLabels);
}

public sealed record WorkerReport(string Id, string Address, string Device, int Slots, string[] Tasks);

/// <summary>
/// An epoch in metrics.json. <see cref="TrunkRows"/>: rows the trunk ran on, summed over workers (the training rows
/// once per trunk-updating epoch, whatever the number of workers); <see cref="ExchangeBytes"/>: bytes the workers
/// sent each other.
/// </summary>
public sealed record EpochHistory(int Epoch, string Phase, double? TrainLoss, double? ValidScore, double? MeanValidRocAuc, double Seconds, double RowsPerSecond, bool Improved,
    long TrunkRows, long ExchangeBytes)
{
    public static EpochHistory Of(EpochReport h) => new(h.Epoch, h.Phase.ToString().ToLowerInvariant(), RunMetrics.Nullable(h.TrainLoss),
        RunMetrics.Nullable(h.ValidScore), RunMetrics.Nullable(h.MeanValidRocAuc), Math.Round(h.Seconds, 3), Math.Round(h.RowsPerSecond, 1), h.Improved,
        h.TrunkRows, h.ExchangeBytes);
}
