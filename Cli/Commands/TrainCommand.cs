using System.CommandLine;
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
        var command = new Command("train", "train a multitask network on one machine");
        options.AddTo(command);
        command.Options.Add(workers);
        command.Options.Add(device);
        command.Options.Add(verbose);
        command.Options.Add(endpoints.MetricsPort);
        command.Options.Add(endpoints.HealthPort);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
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
            using var telemetry = endpoints.StartTelemetry(parse, "train");
            var outcome = await EmbeddedRun.RunAsync(job,
                new EmbeddedOptions(parse.GetValue(workers), parse.GetValue(device)!, LogLevel: parse.GetValue(verbose) ? "INFO" : "WARNING", HealthPort: healthPort), completion, cancel);
            PrintSummary(outcome, outDirectory);
            return 0;
        }));
        return command;
    }

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
