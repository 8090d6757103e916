using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh scaling</c>: one coordinator and 1, 2, 4 worker processes on this host (as
/// <c>Deploy/cluster-local.sh</c> starts them), one joint epoch each; reports the epoch's training seconds from
/// metrics.json. On one host the workers share its cores: this measures overhead, not the speed-up of a cluster.
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
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("scaling", "epoch time with 1, 2, 4 worker processes on this host") { data, workers, schedule, dataPlane, extra, json };
        command.SetAction(async (parse, cancel) =>
        {
            var path = Path.GetFullPath(parse.GetValue(data) ?? Path.Combine(BenchOptions.RepoRoot, "examples", "toxcast.csv.gz"));
            if (!File.Exists(path)) throw new ArgumentException($"--data: {path} does not exist");
            var counts = parse.GetValue(workers)!.Split(',', StringSplitOptions.TrimEntries).Select(s => int.TryParse(s, out var n) && n > 0
                ? n : throw new ArgumentException($"--workers: '{parse.GetValue(workers)}' is not a list of positive counts")).ToArray();
            var alternate = parse.GetValue(schedule) == "alternate";
            string[] train = ["--data", path, "--epochs", alternate ? "2" : "1", "--patience", "0", "--schedule", alternate ? "alternate" : "joint",
                .. parse.GetValue(extra)!.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            var report = new BenchReport("scaling");
            report.Note(BenchReport.Machine);
            report.Add("dataset", path);
            report.Add("data_plane", parse.GetValue(dataPlane)!);
            double? single = null;
            foreach (var n in counts)
            {
                var (epochs, wall) = await RunCluster(n, train, parse.GetValue(dataPlane)!, cancel);
                foreach (var (phase, seconds) in epochs) report.Add($"{phase}_epoch_seconds_{n}", seconds);
                report.Add($"process_wall_seconds_{n}", wall);
                var total = epochs.Sum(e => e.Seconds);
                single ??= total;
                if (n != counts[0]) report.Add($"relative_epoch_time_{n}", total / single.Value);
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

    private static async Task<((string Phase, double Seconds)[] Epochs, double Wall)> RunCluster(int workers, string[] train, string dataPlane, CancellationToken cancel)
    {
        var port = FreePort();
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-scaling-{Guid.NewGuid():N}");
        var log = Path.Combine(Path.GetTempPath(), $"mtnn-scaling-{workers}-{port}.log");
        var processes = new List<Process>();
        var clock = Stopwatch.StartNew();
        try
        {
            processes.Add(Start(log, ["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", workers.ToString(), "--out", outDirectory, "--data-plane", dataPlane, .. train]));
            for (var i = 0; i < workers; i++)
                processes.Add(Start(log, ["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", $"worker-{i}", "--data-plane", dataPlane]));
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            limit.CancelAfter(TimeSpan.FromMinutes(20));
            foreach (var process in processes)
            {
                await process.WaitForExitAsync(limit.Token);
                if (process.ExitCode != 0) throw new InvalidOperationException($"{workers} worker(s): a process exited {process.ExitCode}; see {log}");
            }
            var wall = clock.Elapsed.TotalSeconds;
            using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
            var epochs = metrics.RootElement.GetProperty("history").EnumerateArray()
                .Select(h => (h.GetProperty("phase").GetString()!, h.GetProperty("seconds").GetDouble())).ToArray();
            return (epochs, wall);
        }
        finally
        {
            foreach (var process in processes.Where(p => !p.HasExited)) process.Kill(entireProcessTree: true);
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
        }
    }

    private static readonly Lock LogLock = new();

    private static Process Start(string log, string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(MtnnDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start mtnn");
        var name = $"{args[0]}#{process.Id}";
        void Write(string? line)
        {
            if (line is null) return;
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
