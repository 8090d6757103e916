using MtnnCluster.Collectives;
using System.CommandLine;
using System.Diagnostics;
using Akka.Hosting;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Hosting;
using MtnnCluster.Training;
using MtnnCluster.Worker;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh epoch</c>: joint against alternate (ATE-SG) epochs, in one process through the real actors
/// (<c>mtnn train</c>'s path). Epoch seconds are the coordinator's training time, without loading or evaluation.
/// </summary>
public static class EpochBench
{
    public static Command Create()
    {
        var options = new BenchOptions();
        var workers = new Option<int>("--workers") { Description = "in-process worker actors", DefaultValueFactory = _ => 2 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var repeat = new Option<int>("--repeat") { Description = "epochs of each kind to average (CPU seconds need 2 or more)", DefaultValueFactory = _ => 2 };
        var precisionOption = new Option<string>("--precision") { Description = "fp32, tf32 (CUDA only) or bf16 (trunk layers in bfloat16)", DefaultValueFactory = _ => "fp32" };
        var command = new Command("epoch", "joint vs alternate epoch time in one process") { workers, device, repeat, precisionOption };
        options.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            var n = Math.Max(1, parse.GetValue(repeat));
            var onDevice = parse.GetValue(device)!;
            var precision = PrecisionMode.Parse(parse.GetValue(precisionOption)!);
            PrecisionMode.Require(precision, DeviceName.Parse(onDevice)); // a clear error before anything starts
            var report = new BenchReport("epoch");
            report.Note(BenchReport.Machine);
            var joint = await Run(options.Spec(parse, new ScheduleSpec(ScheduleKind.Joint, n, 1, 1, 0), precision), parse.GetValue(workers), onDevice, cancel);
            var alternate = await Run(options.Spec(parse, new ScheduleSpec(ScheduleKind.Alternate, 2 * n, 1, 1, 0), precision), parse.GetValue(workers), onDevice, cancel);
            var data = joint.Outcome.Data;
            report.Add("dataset", data.Path);
            report.Add("train_rows", data.Split.Train.Length);
            report.Add("tasks", data.TaskCount);
            report.Add("workers", parse.GetValue(workers));
            report.Add("device", onDevice);
            report.Add("precision", precision.Name());
            report.Add("layers", parse.GetValue(options.Layers)!);
            double Mean(IEnumerable<EpochReport> epochs, Func<EpochReport, double> f) => epochs.Average(f);
            var jointEpochs = joint.Outcome.History;
            var heads = alternate.Outcome.History.Where(e => e.Phase == EpochPhase.Heads).ToArray();
            var trunks = alternate.Outcome.History.Where(e => e.Phase == EpochPhase.Trunk).ToArray();
            report.Add("joint_epoch_seconds", Mean(jointEpochs, e => e.Seconds));
            report.Add("head_epoch_seconds", Mean(heads, e => e.Seconds));
            report.Add("trunk_epoch_seconds", Mean(trunks, e => e.Seconds));
            report.Add("joint_rows_per_second", Mean(jointEpochs, e => e.RowsPerSecond));
            report.Add("head_rows_per_second", Mean(heads, e => e.RowsPerSecond));
            report.Add("trunk_rows_per_second", Mean(trunks, e => e.RowsPerSecond));
            report.Add("head_to_joint_ratio", Mean(heads, e => e.Seconds) / Mean(jointEpochs, e => e.Seconds));
            if (n >= 2)
            {
                // CPU seconds of the whole process per epoch: stable where wall time depends on what else the machine runs.
                var jointCpu = joint.CpuSeconds(EpochPhase.Joint).Average();
                report.Add("joint_epoch_cpu_seconds", jointCpu);
                report.Add("head_epoch_cpu_seconds", alternate.CpuSeconds(EpochPhase.Heads).Average());
                report.Add("trunk_epoch_cpu_seconds", alternate.CpuSeconds(EpochPhase.Trunk).Average());
                report.Add("head_to_joint_cpu_ratio", alternate.CpuSeconds(EpochPhase.Heads).Average() / jointCpu);
            }
            using (var self = Process.GetCurrentProcess()) report.Add("peak_working_set_mb", self.PeakWorkingSet64 / 1e6);
            report.Finish(parse.GetValue(options.Json));
            return 0;
        });
        return command;
    }

    /// <summary>Collects epochs with the process's CPU seconds at the end of each (wall time misleads on a shared machine).</summary>
    private sealed class CpuObserver : ITrainingObserver
    {
        private readonly TaskCompletionSource<RunOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public List<(EpochReport Epoch, double CpuSeconds)> Epochs { get; } = [];
        public Task<RunOutcome> Outcome => _done.Task;
        public void Info(string message) { }
        public void EpochCompleted(EpochReport report) => Epochs.Add((report, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds));
        public void Completed(RunOutcome outcome) => _done.TrySetResult(outcome);
        public void Failed(Exception error) => _done.TrySetException(error);
    }

    private sealed record Result(RunOutcome Outcome, IReadOnlyList<(EpochReport Epoch, double CpuSeconds)> Epochs)
    {
        /// <summary>
        /// Process CPU seconds of each epoch of a phase after the first epoch of the run: the difference between
        /// the ends of consecutive epochs (it includes the previous epoch's validation pass).
        /// </summary>
        public double[] CpuSeconds(EpochPhase phase) =>
            Epochs.Skip(1).Select((e, i) => (e.Epoch.Phase, Seconds: e.CpuSeconds - Epochs[i].CpuSeconds))
                .Where(e => e.Phase == phase).Select(e => e.Seconds).ToArray();
    }

    /// <summary>The wiring of <c>mtnn train</c> (<see cref="EmbeddedRun"/>), with an observer that records CPU time.</summary>
    private static async Task<Result> Run(RunSpec spec, int workers, string device, CancellationToken cancel)
    {
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-bench-{Guid.NewGuid():N}");
        try
        {
            var job = new TrainJob(ClusterCommands.NewRunId(), spec, outDirectory, workers);
            var observer = new CpuObserver();
            var options = Enumerable.Range(0, workers).Select(i => new WorkerOptions($"local-{i}", device, 1)).ToArray();
            var outcome = await AkkaNode.RunAsync(akka => akka
                    .AddMtnnBasics()
                    .WithCoordinator(job, observer)
                    .WithWorkers(options, (_, registry) => registry.Get<CoordinatorActor>(), new InProcessGroups()),
                _ => observer.Outcome.WaitAsync(cancel));
            return new Result(outcome, observer.Epochs);
        }
        finally
        {
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
        }
    }
}
