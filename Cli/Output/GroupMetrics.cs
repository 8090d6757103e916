using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Evaluation;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// A metric over the runs of a group: the mean and the sample standard deviation (n − 1; MoleculeNet's mean ± std)
/// of the runs that have it (a task with one class in a run's test split has no ROC-AUC there). <see cref="Std"/>
/// is null with a single value.
/// </summary>
public sealed record MeanStd(double Mean, double? Std, int Runs)
{
    public static MeanStd? Of(IEnumerable<double?> values)
    {
        var present = values.OfType<double>().ToArray();
        if (present.Length == 0) return null;
        var mean = present.Average();
        return new MeanStd(mean, present.Length > 1 ? Math.Sqrt(present.Sum(v => (v - mean) * (v - mean)) / (present.Length - 1)) : null, present.Length);
    }
}

/// <summary>One run of a group as the group's metrics.json lists it; <see cref="Directory"/> is relative to the group's.</summary>
public sealed record GroupRunReport(string Directory, int Seed, string RunId, int BestEpoch, double WallSeconds);

public sealed record GroupTaskReport(string Name, string Kind, MeanStd? TrainRocAuc, MeanStd? ValidRocAuc, MeanStd? TestRocAuc, MeanStd? ValidPrcAuc,
    MeanStd? TestPrcAuc, MeanStd? TestRmse, MeanStd? TestMae, MeanStd? TestR2);

/// <summary>The ensemble's own scores: its members' mean predictions on the test split they share.</summary>
public sealed record EnsembleReport(int Members, double? MeanTestRocAuc, double? MeanTestPrcAuc, double? MeanTestRmse, double? MeanTestR2,
    IReadOnlyList<EnsembleTaskReport> Tasks, SplitScoring Scoring);

public sealed record EnsembleTaskReport(string Name, string Kind, int TestLabels, int TestPositives, double? TestRocAuc, double? TestPrcAuc,
    double? TestRmse, double? TestMae, double? TestR2, bool Scored);

/// <summary>
/// The shape of a group's metrics.json (<c>train --seeds</c> or <c>--ensemble</c>): each top-level metric of a run's
/// metrics.json and each task's as mean ± std over the runs, and for an ensemble its own test scores.
/// </summary>
public sealed record GroupMetrics(
    string Kind,
    string Dataset,
    string Split,
    int[] Seeds,
    IReadOnlyList<GroupRunReport> Runs,
    double WallSeconds,
    MeanStd? MeanTrainRocAuc,
    MeanStd? MeanValidRocAuc,
    MeanStd? MeanTestRocAuc,
    MeanStd? MeanValidPrcAuc,
    MeanStd? MeanTestPrcAuc,
    MeanStd? MeanTestRmse,
    MeanStd? MeanTestR2,
    IReadOnlyList<GroupTaskReport> Tasks,
    EnsembleReport? Ensemble = null)
{
    public static GroupMetrics From(RunGroup group, IReadOnlyList<GroupMember> members, IReadOnlyList<RunMetrics> runs, EnsembleReport? ensemble = null)
    {
        MeanStd? Over(Func<RunMetrics, double?> pick) => MeanStd.Of(runs.Select(pick));
        // tasks by name: every run of a group trains the same tasks, in the same order
        var byName = runs.Select(r => r.Tasks.ToDictionary(t => t.Name, StringComparer.Ordinal)).ToArray();
        var tasks = runs[0].Tasks.Select(task =>
        {
            MeanStd? Of(Func<TaskReport, double?> pick) => MeanStd.Of(byName.Select(r => r.TryGetValue(task.Name, out var t) ? pick(t) : null));
            return new GroupTaskReport(task.Name, task.Kind, Of(t => t.TrainRocAuc), Of(t => t.ValidRocAuc), Of(t => t.TestRocAuc), Of(t => t.ValidPrcAuc),
                Of(t => t.TestPrcAuc), Of(t => t.TestRmse), Of(t => t.TestMae), Of(t => t.TestR2));
        }).ToArray();
        return new GroupMetrics(group.Kind.ToString().ToLowerInvariant(), runs[0].Dataset, runs[0].Split, group.RunSeeds,
            members.Select((m, i) => new GroupRunReport(m.Name, m.Seed, runs[i].RunId, runs[i].BestEpoch, runs[i].WallSeconds)).ToArray(),
            Math.Round(runs.Sum(r => r.WallSeconds), 3),
            Over(r => r.MeanTrainRocAuc), Over(r => r.MeanValidRocAuc), Over(r => r.MeanTestRocAuc), Over(r => r.MeanValidPrcAuc),
            Over(r => r.MeanTestPrcAuc), Over(r => r.MeanTestRmse), Over(r => r.MeanTestR2), tasks, ensemble);
    }

    /// <summary>
    /// The ensemble's report from its scores on the test split (the means over scored tasks of the evaluated datasets,
    /// <paramref name="isEvaluated"/>, as a run's).
    /// </summary>
    public static EnsembleReport EnsembleScores(int members, IReadOnlyList<TaskMetrics> test, int minClassCount, Func<string, bool> isEvaluated)
    {
        double? Mean(Func<TaskMetrics, double> pick) => RunMetrics.Nullable(MetricSummary.MeanScored(test.Where(m => isEvaluated(m.Task)), pick, minClassCount));
        return new EnsembleReport(members, Mean(m => m.RocAuc), Mean(m => m.PrcAuc), Mean(m => m.Rmse), Mean(m => m.R2),
            test.Select(m => new EnsembleTaskReport(m.Task, m.Kind.ToString().ToLowerInvariant(), m.Labelled, m.Positives, RunMetrics.Nullable(m.RocAuc),
                RunMetrics.Nullable(m.PrcAuc), RunMetrics.Nullable(m.Rmse), RunMetrics.Nullable(m.Mae), RunMetrics.Nullable(m.R2), MetricSummary.IsScored(m, minClassCount))).ToArray(),
            SplitScoring.From(Data.Split.Test, MetricSummary.Count(test, minClassCount)));
    }

    /// <summary>Writes <c>metrics.json</c> into the group's directory (to a temporary file first, then renamed into place).</summary>
    public string Write(string directory)
    {
        var path = Path.Combine(directory, OutputDirectory.MetricsFile);
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, Checkpoint.Json));
        return path;
    }

    /// <summary>The console's summary: "mean test ROC-AUC 0.8123 ± 0.0042 over 3 seeds (PRC-AUC …)", with PRC-AUC, RMSE, R² where the runs have them.</summary>
    public string Summary(string counted)
    {
        static string Show(string name, MeanStd? m) => m is null ? "" : $"{name} {m.Mean:F4} ± {(m.Std is { } s ? s.ToString("F4") : "n/a")}";
        var parts = new[] { Show("mean test ROC-AUC", MeanTestRocAuc), Show("mean test PRC-AUC", MeanTestPrcAuc), Show("mean test RMSE", MeanTestRmse), Show("mean test R²", MeanTestR2) }
            .Where(p => p.Length > 0).ToArray();
        if (parts.Length == 0) return $"no test metric over {counted}";
        return $"{parts[0]} over {counted}{(parts.Length > 1 ? $" ({string.Join(", ", parts[1..])})" : "")}";
    }
}
