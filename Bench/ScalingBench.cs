using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh scaling</c>: one coordinator and 1, 2, 4 worker processes on this host (as
/// <c>Deploy/cluster-local.sh</c> starts them); reports per worker count the training seconds of the epochs after
/// the first (JIT, caches), the workers' CPU seconds, the trunk rows and exchanged bytes per step from metrics.json,
/// and the test ROC-AUC. With <c>--pin</c> worker i runs on core i alone with one compute thread, so that N workers
/// on N cores stand for N single-core machines: the speed-up of the data-parallel trunk, measured on one host.
/// With <c>--model</c>, no cluster: <see cref="ScalingModel"/> predicts N GPU workers instead.
/// </summary>
public static class ScalingBench
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "CSV or .csv.gz dataset (default: examples/toxcast.csv.gz)" };
        var workers = new Option<string>("--workers") { Description = "worker counts to run", DefaultValueFactory = _ => "1,2,4" };
        var schedule = new Option<string>("--schedule") { Description = "joint or alternate (alternate: one head and one trunk epoch)", DefaultValueFactory = _ => "joint" };
        var dataPlane = new Option<string>("--data-plane") { Description = "on or off, passed to every process", DefaultValueFactory = _ => "on" };
        var extra = new Option<string>("--train-options") { Description = "more train options, space-separated (for example \"--bits 1024 --layers 1000\")", DefaultValueFactory = _ => "" };
        var workerExtra = new Option<string>("--worker-options") { Description = "more worker options, space-separated (for example \"--same-host-memory false\")", DefaultValueFactory = _ => "" };
        var epochs = new Option<int>("--epochs") { Description = "epochs per run; the first is not counted when there are more", DefaultValueFactory = _ => 1 };
        var pin = new Option<bool>("--pin") { Description = "worker i on core i alone (taskset), one compute thread each" };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var model = new Option<bool>("--model") { Description = "run no cluster: predict epoch time and efficiency of 1-256 GPU workers from a cost model (see --model-* and the assumptions' options)" };
        var command = new Command("scaling", "epoch time with 1, 2, 4 worker processes on this host, or (--model) predicted for N GPU workers") { data, workers, schedule, dataPlane, extra, workerExtra, epochs, pin, json, model };
        var modelOptions = new ScalingModel.Options();
        modelOptions.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            if (parse.GetValue(model)) return ScalingModel.Run(parse, modelOptions, parse.GetValue(extra)!, parse.GetValue(json));
            var path = Path.GetFullPath(parse.GetValue(data) ?? Path.Combine(BenchOptions.RepoRoot, "examples", "toxcast.csv.gz"));
            if (!File.Exists(path)) throw new ArgumentException($"--data: {path} does not exist");
            var counts = parse.GetValue(workers)!.Split(',', StringSplitOptions.TrimEntries).Select(s => int.TryParse(s, out var n) && n > 0
                ? n : throw new ArgumentException($"--workers: '{parse.GetValue(workers)}' is not a list of positive counts")).ToArray();
            var alternate = parse.GetValue(schedule) == "alternate";
            var epochCount = Math.Max(parse.GetValue(epochs), alternate ? 2 : 1);
            if (parse.GetValue(pin) && counts.Max() > Environment.ProcessorCount)
                throw new ArgumentException($"--pin: {counts.Max()} workers on {Environment.ProcessorCount} cores");
            string[] train = ["--data", path, "--epochs", $"{epochCount}", "--patience", "0", "--schedule", alternate ? "alternate" : "joint",
                .. parse.GetValue(extra)!.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            var batchSize = train.SkipWhile(a => a != "--batch-size").Skip(1).Select(int.Parse).FirstOrDefault(128);
            var report = new BenchReport("scaling");
            report.Note(BenchReport.Machine);
            report.Add("dataset", path);
            report.Add("data_plane", parse.GetValue(dataPlane)!);
            report.Add("pinned", parse.GetValue(pin) ? "one core and one compute thread per worker" : "no");
            report.Add("worker_options", parse.GetValue(workerExtra) is { Length: > 0 } w ? w : "none");
            (double Seconds, double Cpu)? single = null;
            foreach (var n in counts)
            {
                var run = await RunCluster(n, train, parse.GetValue(dataPlane)!, parse.GetValue(pin), parse.GetValue(workerExtra)!.Split(' ', StringSplitOptions.RemoveEmptyEntries), cancel);
                // the epochs after the first (which pays for JIT and warm-up), or the only one
                var counted = run.Epochs.Length > 1 ? run.Epochs[1..] : run.Epochs;
                foreach (var phase in counted.Select(e => e.Phase).Distinct())
                    report.Add($"{phase}_epoch_seconds_{n}", counted.Where(e => e.Phase == phase).Average(e => e.Seconds));
                var seconds = counted.Sum(e => e.Seconds);
                var cpu = run.WorkerCpuSeconds;
                report.Add($"worker_cpu_seconds_{n}", cpu);
                report.Add($"trunk_rows_per_epoch_{n}", counted.Average(e => e.TrunkRows));
                var steps = RunSchedule.StepsFor((int)counted[0].TrunkRows, batchSize);
                report.Add($"exchange_bytes_per_step_per_worker_{n}", counted.Average(e => e.ExchangeBytes) / steps / n);
                report.Add($"mean_test_roc_auc_{n}", run.TestRocAuc);
                report.Add($"process_wall_seconds_{n}", run.Wall);
                single ??= (seconds, cpu);
                if (n == counts[0]) continue;
                report.Add($"speedup_{n}", single.Value.Seconds / seconds);
                report.Add($"worker_cpu_ratio_{n}", cpu / single.Value.Cpu);
            }
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static string MtnnDll
    {
        get
        {
            var built = Path.Combine(BenchOptions.RepoRoot, "Cli", "bin", "Release", "net10.0", "mtnn.dll");
            return File.Exists(built) ? built : Path.Combine(AppContext.BaseDirectory, "mtnn.dll");
        }
    }

    private sealed record Epoch(string Phase, double Seconds, long TrunkRows, long ExchangeBytes);
    /// <summary><see cref="WorkerCpuSeconds"/>: the workers' CPU from the end of the first epoch to the end of the last (all of it with one epoch).</summary>
    private sealed record ClusterRun(Epoch[] Epochs, double Wall, double WorkerCpuSeconds, double TestRocAuc);

    private static async Task<ClusterRun> RunCluster(int workers, string[] train, string dataPlane, bool pin, string[] workerOptions, CancellationToken cancel)
    {
        var port = FreePort();
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-scaling-{Guid.NewGuid():N}");
        var log = Path.Combine(Path.GetTempPath(), $"mtnn-scaling-{workers}-{port}.log");
        var processes = new List<Process>();
        var clock = Stopwatch.StartNew();
        // the workers' CPU seconds each time the coordinator prints an epoch's line
        var cpuAtEpochEnd = new List<double>();
        void OnCoordinatorLine(string line)
        {
            if (!line.StartsWith("epoch ", StringComparison.Ordinal)) return;
            lock (cpuAtEpochEnd) cpuAtEpochEnd.Add(processes.Skip(1).Sum(p => p.TotalProcessorTime.TotalSeconds));
        }
        try
        {
            processes.Add(Start(log, ["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", workers.ToString(), "--out", outDirectory, "--data-plane", dataPlane, .. train], null, OnCoordinatorLine));
            for (var i = 0; i < workers; i++)
                processes.Add(Start(log, ["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", $"worker-{i}", "--data-plane", dataPlane, .. workerOptions], pin ? i : null));
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            limit.CancelAfter(TimeSpan.FromMinutes(20));
            foreach (var process in processes)
            {
                await process.WaitForExitAsync(limit.Token);
                if (process.ExitCode != 0) throw new InvalidOperationException($"{workers} worker(s): a process exited {process.ExitCode}; see {log}");
            }
            var wall = clock.Elapsed.TotalSeconds;
            double workerCpu;
            lock (cpuAtEpochEnd) workerCpu = cpuAtEpochEnd.Count > 1 ? cpuAtEpochEnd[^1] - cpuAtEpochEnd[0] : cpuAtEpochEnd.FirstOrDefault();
            using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
            var epochs = metrics.RootElement.GetProperty("history").EnumerateArray()
                .Select(h => new Epoch(h.GetProperty("phase").GetString()!, h.GetProperty("seconds").GetDouble(),
                    h.GetProperty("trunk_rows").GetInt64(), h.GetProperty("exchange_bytes").GetInt64())).ToArray();
            return new ClusterRun(epochs, wall, workerCpu, metrics.RootElement.GetProperty("mean_test_roc_auc").GetDouble());
        }
        finally
        {
            foreach (var process in processes.Where(p => !p.HasExited)) process.Kill(entireProcessTree: true);
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
        }
    }

    private static readonly Lock LogLock = new();

    /// <summary>Starts mtnn; with a <paramref name="core"/>, on that core alone (taskset) with one compute thread.</summary>
    private static Process Start(string log, string[] args, int? core, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo(core is null ? "dotnet" : "taskset") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (core is { } c)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"{c}");
            info.ArgumentList.Add("dotnet");
            info.Environment["OMP_NUM_THREADS"] = "1";
            info.Environment["MKL_NUM_THREADS"] = "1";
        }
        info.ArgumentList.Add(MtnnDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start mtnn");
        var name = $"{args[0]}#{process.Id}";
        void Write(string? line)
        {
            if (line is null) return;
            onLine?.Invoke(line);
            lock (LogLock) File.AppendAllText(log, $"[{name}] {line}\n");
        }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
