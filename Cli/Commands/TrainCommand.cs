using System.CommandLine;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Output;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn train</c>: the whole run in this process (coordinator and workers as local actors).</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var options = new TrainOptions();
        var workers = new Option<int>("--workers") { Description = "worker actors in this process (one per device: more on one device only compete for it)", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var verbose = new Option<bool>("--verbose") { Description = "log the actor system's info messages" };
        var endpoints = new EndpointOptions();
        var command = new Command("train", "train a multitask network on one machine (--seeds and --ensemble: several runs, at once on different workers when there are enough)");
        options.AddTo(command);
        command.Options.Add(options.Seeds); // train and coordinator (groups); not tune, which makes its own runs
        command.Options.Add(options.EnsembleSize);
        command.Options.Add(workers);
        command.Options.Add(device);
        command.Options.Add(verbose);
        foreach (var option in endpoints.All) command.Options.Add(option);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
            if (options.Group(parse) is { } group)
            {
                PrecisionMode.Require(options.ToSpec(parse).Precision, DeviceName.Parse(parse.GetValue(device)!));
                using var groupTelemetry = endpoints.StartTelemetry(parse, "train", endpoints.HttpHost(parse, null));
                var embedded = new EmbeddedOptions(parse.GetValue(workers), parse.GetValue(device)!,
                    LogLevel: parse.GetValue(verbose) ? "INFO" : "WARNING", HealthPort: endpoints.Health(parse), HttpHost: endpoints.HttpHost(parse, null),
                    StatusDetail: endpoints.Detail(parse));
                // the workers shared out over the runs: all at once when there are enough, else in turn
                await TrainGroup(options, parse, group, embedded.Device, Math.Max(1, embedded.Workers / group.Count),
                    (id, jobs, current) => GroupRun.RunInProcess(id, jobs, embedded, current, cancel), parse.GetValue(verbose));
                return 0;
            }
            var completion = RunCompletion.ForConsole();
            using var runLock = options.OutPath(parse) is { } outPath ? RunLock.Acquire(outPath, "mtnn train", completion.Info) : null;
            var run = options.Resolve(parse, ClusterCommands.NewRunId, w => completion.Info($"warning: {w}"));
            if (run.AlreadyFinished)
            {
                completion.Info($"run {run.RunId} in {run.OutDirectory} has already finished (metrics.json); nothing to do");
                return 0;
            }
            PrecisionMode.Require(run.Spec.Precision, DeviceName.Parse(parse.GetValue(device)!)); // fail fast, before any actor starts
            var outDirectory = run.OutDirectory;
            var job = run.ToJob(parse.GetValue(workers));
            var healthPort = endpoints.Health(parse);
            using var telemetry = endpoints.StartTelemetry(parse, "train", endpoints.HttpHost(parse, null));
            var outcome = await EmbeddedRun.RunAsync(job,
                new EmbeddedOptions(parse.GetValue(workers), parse.GetValue(device)!, LogLevel: parse.GetValue(verbose) ? "INFO" : "WARNING", HealthPort: healthPort,
                    HttpHost: endpoints.HttpHost(parse, null), StatusDetail: endpoints.Detail(parse), KeepTrainingCheckpoints: KeepsCheckpoints(options, parse)), completion, cancel);
            PrintSummary(outcome, outDirectory);
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// <c>--seeds</c> or <c>--ensemble</c>: every run in its own subdirectory of --out as a normal run (with
    /// <c>--resume auto</c> a finished one is kept and an unfinished one continues), as jobs of one coordinator that
    /// go on at the same time on different workers, <paramref name="workersPerJob"/> each, as far as there are
    /// workers (<paramref name="runJobs"/>: in this process, or as a cluster's coordinator); then the group's
    /// metrics.json and, for an ensemble, ensemble.json and the ensemble's own test scores.
    /// </summary>
    internal static async Task TrainGroup(TrainOptions options, ParseResult parse, RunGroup group, string device, int workersPerJob,
        Func<string, IReadOnlyList<GroupJob>, Func<RunWatch?>, Task> runJobs, bool verbose = false)
    {
        var outPath = options.OutPath(parse) ?? throw new ArgumentException("--out is required");
        using var groupLock = RunLock.Acquire(outPath, "mtnn train", Console.WriteLine);
        var outDirectory = OutputDirectory.ClaimGroup(outPath, parse.GetValue(options.Overwrite), parse.GetValue(options.Resume) == "auto");
        using var log = new RunLog(outDirectory, Console.WriteLine, verbose); // the group's one actor system logs here
        var members = Enumerable.Range(0, group.Count).Select(i => group.Member(i, outDirectory)).ToArray();
        var runs = new RunMetrics?[group.Count];
        var locks = new List<IDisposable>();
        var pending = new List<(int Index, string OutDirectory, RunCompletion Completion, RunWatch Watch)>();
        var jobs = new List<GroupJob>();
        try
        {
            for (var i = 0; i < members.Length; i++)
            {
                var member = members[i];
                var completion = new RunCompletion(new PrefixedLines(Console.Out, $"{member.Name}: "));
                completion.Info($"({i + 1}/{group.Count}) seed {member.Seed}, {member.OutDirectory}");
                locks.Add(RunLock.Acquire(member.OutDirectory, "mtnn train", completion.Info));
                var run = options.Resolve(parse, ClusterCommands.NewRunId, w => completion.Info($"warning: {w}"), member);
                if (run.AlreadyFinished)
                {
                    completion.Info($"run {run.RunId} in {run.OutDirectory} has already finished (metrics.json); its scores are used");
                    runs[i] = ReportWriter.ReadMetrics(run.OutDirectory);
                    continue;
                }
                var watch = new RunWatch(completion, run.OutDirectory, run.Spec, message => completion.Info($"warning: {message}"), log);
                pending.Add((i, run.OutDirectory, completion, watch));
                jobs.Add(new GroupJob(run.ToJob(workersPerJob) with { KeepWorkers = true }, watch));
            }
            if (jobs.Count > 0)
            {
                RunWatch? Current() => pending.FirstOrDefault(p => !p.Completion.Outcome.IsCompleted).Watch;
                try
                {
                    await runJobs($"group-{ClusterCommands.NewRunId()}", jobs, Current);
                }
                finally
                {
                    log.End();
                }
            }
            Exception? failure = null;
            foreach (var (index, directory, completion, _) in pending)
            {
                try
                {
                    var outcome = await completion.Outcome;
                    RunWriter.Write(directory, outcome, removeTrainingCheckpoints: !KeepsCheckpoints(options, parse));
                    Console.WriteLine($"{members[index].Name}:");
                    PrintSummary(outcome, directory);
                    runs[index] = RunMetrics.From(outcome);
                }
                catch (Exception e) when (failure is null)
                {
                    failure = new InvalidOperationException($"{members[index].Name} ({directory}) failed: {e.Message}", e);
                }
            }
            if (failure is not null) throw failure; // after the others' outputs are written
        }
        finally
        {
            foreach (var l in locks) l.Dispose();
        }
        EnsembleReport? ensemble = null;
        if (group.Kind == GroupKind.Ensemble)
        {
            Ensemble.Write(outDirectory, new EnsembleModel(Ensemble.CurrentFormat,
                members.Select(m => $"{m.Name}/{OutputDirectory.CheckpointDirectory}").ToArray(), group.RunSeeds, options.ToSpec(parse).Split.Seed));
            var models = Ensemble.Read(outDirectory);
            var spec = models[0].Model.Spec;
            var data = PreparedDataset.Load(spec);
            data.RequireFingerprint(models[0].Model.DatasetFingerprint, "the members' checkpoints");
            ensemble = GroupMetrics.EnsembleScores(group.Count, Ensemble.Score(models, data, Data.Split.Test, DeviceName.Parse(device)), spec.MinClassCount, data.IsEvaluated);
        }
        var metrics = GroupMetrics.From(group, members, runs.Select(r => r!).ToList(), ensemble);
        var path = metrics.Write(outDirectory);
        if (ensemble is not null)
            Console.WriteLine($"ensemble of {group.Count} members (their mean predictions): mean test ROC-AUC {Format(ensemble.MeanTestRocAuc)}, PRC-AUC {Format(ensemble.MeanTestPrcAuc)}" +
                              (ensemble.MeanTestRmse is null ? "" : $", RMSE {Format(ensemble.MeanTestRmse)}, R² {Format(ensemble.MeanTestR2)}"));
        Console.WriteLine(metrics.Summary(group.Counted));
        Console.WriteLine($"wrote {path}{(ensemble is null ? "" : $", {Path.Combine(outDirectory, Ensemble.FileName)} (mtnn predict --checkpoint {outDirectory})")}");
    }

    /// <summary>A finished run's training checkpoints are removed unless --keep-checkpoints is given (they serve resuming only).</summary>
    internal static bool KeepsCheckpoints(TrainOptions options, ParseResult parse) => parse.GetResult(options.KeepCheckpoints) is { Implicit: false };

    public static void PrintSummary(MtnnCluster.Training.RunOutcome outcome, string outDirectory)
    {
        var metrics = RunMetrics.From(outcome);
        Console.WriteLine($"best epoch {metrics.BestEpoch}: mean test ROC-AUC {Format(metrics.MeanTestRocAuc)}, PRC-AUC {Format(metrics.MeanTestPrcAuc)}" +
                          (metrics.MeanTestRmse is null ? "" : $", RMSE {Format(metrics.MeanTestRmse)}, R² {Format(metrics.MeanTestR2)}") +
                          $"; {metrics.WallSeconds:F1} s");
        var report = Path.Combine(outDirectory, ReportWriter.FileName);
        Console.WriteLine($"wrote {Path.Combine(outDirectory, "metrics.json")}, {(File.Exists(report) ? report + ", " : "")}{Path.Combine(outDirectory, "checkpoint")}/");
    }

    private static string Format(double? value) => value is { } v ? v.ToString("F4") : "n/a";
}
