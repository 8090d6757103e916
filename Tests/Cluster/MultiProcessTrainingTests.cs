using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// A coordinator and two worker processes on 127.0.0.1, started as a user would (`mtnn coordinator`,
/// `mtnn worker`), exchanging over TCP, against the single-process run of two workers exchanging in memory, with
/// the same seed and settings.
/// </summary>
[Collection(Processes.Collection)]
public sealed class MultiProcessTrainingTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    private static string[] TrainArgs(string data, string schedule, string syncEvery) =>
        ["--data", data, "--schedule", schedule, "--sync-every", syncEvery, "--epochs", "4", "--layers", "64,32", "--bits", "1024", "--batch-size", "64", "--lr", "3e-3", "--patience", "0"];

    [Theory]
    [InlineData("joint", "1")]
    [InlineData("alternate", "1")]
    [InlineData("joint", "4")]
    public async Task Three_processes_train_like_one(string schedule, string syncEvery)
    {
        var port = FreePort();
        var clusterOut = Path.Combine(slice.Directory, $"cluster-{schedule}-{syncEvery}");
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "2", "--out", clusterOut, .. TrainArgs(slice.Csv, schedule, syncEvery)]);
        var workers = new[] { "worker-a", "worker-b" }
            .Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();

        foreach (var process in workers.Prepend(coordinator))
            Assert.Equal(0, await processes.WaitForExit(process, Limit));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(clusterOut, "metrics.json")));
        var root = metrics.RootElement;
        var assigned = root.GetProperty("workers").EnumerateArray()
            .ToDictionary(w => w.GetProperty("id").GetString()!, w => w.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.Equal(["worker-a", "worker-b"], assigned.Keys.Order());
        Assert.All(assigned.Values, tasks => Assert.NotEmpty(tasks));
        var taskNames = root.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(taskNames.Order(), assigned.Values.SelectMany(t => t).Order()); // every task by exactly one worker
        Assert.All(root.GetProperty("workers").EnumerateArray(), w => Assert.StartsWith("akka.tcp://mtnn@127.0.0.1:", w.GetProperty("address").GetString()));

        var local = await TrainInProcess(schedule, syncEvery);
        var clusterAuc = root.GetProperty("mean_test_roc_auc").GetDouble();
        var localAuc = JsonDocument.Parse(File.ReadAllText(Path.Combine(local, "metrics.json"))).RootElement.GetProperty("mean_test_roc_auc").GetDouble();
        output.WriteLine($"{schedule}, sync every {syncEvery}: cluster {clusterAuc:F6}, one process {localAuc:F6}");
        // the same spec, rows and tasks placed the same way, two ranks summing in the same order whether they exchange
        // over TCP or in memory: the same model, to the bit
        Assert.Equal(localAuc, clusterAuc);
        var localTasks = JsonDocument.Parse(File.ReadAllText(Path.Combine(local, "metrics.json"))).RootElement.GetProperty("tasks").EnumerateArray()
            .Select(t => (t.GetProperty("name").GetString(), t.GetProperty("test_roc_auc").ToString()));
        Assert.Equal(localTasks, root.GetProperty("tasks").EnumerateArray().Select(t => (t.GetProperty("name").GetString(), t.GetProperty("test_roc_auc").ToString())));
    }

    private async Task<string> TrainInProcess(string schedule, string syncEvery, string[]? args = null)
    {
        var outDirectory = Path.Combine(slice.Directory, $"local-{schedule}-{syncEvery}{(args is null ? "" : "-graph")}");
        var root = new System.CommandLine.RootCommand { MtnnCluster.Cli.Commands.TrainCommand.Create() };
        Assert.Equal(0, await root.Parse(["train", "--out", outDirectory, "--workers", "2", .. args ?? TrainArgs(slice.Csv, schedule, syncEvery)]).InvokeAsync());
        return outDirectory;
    }

    /// <summary>The graph trunk, with descriptors beside the graph and dropout, through the same processes and wire.</summary>
    [Fact]
    public async Task Three_processes_train_the_graph_trunk_like_one()
    {
        string[] train = ["--data", slice.Csv, "--trunk", "graph", "--hidden-size", "48", "--layers", "32", "--dropout", "0.1", "--molecule-features", "descriptors",
            "--epochs", "3", "--batch-size", "64", "--lr", "3e-3", "--patience", "0"];
        var port = FreePort();
        var clusterOut = Path.Combine(slice.Directory, "cluster-graph");
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "2", "--out", clusterOut, .. train]);
        var workers = new[] { "worker-a", "worker-b" }
            .Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();
        foreach (var process in workers.Prepend(coordinator))
            Assert.Equal(0, await processes.WaitForExit(process, Limit));
        var cluster = JsonDocument.Parse(File.ReadAllText(Path.Combine(clusterOut, "metrics.json"))).RootElement;
        var local = JsonDocument.Parse(File.ReadAllText(Path.Combine(await TrainInProcess("joint", "1", train), "metrics.json"))).RootElement;
        // over TCP as in memory: the same graph model, to the bit
        Assert.Equal(local.GetProperty("mean_test_roc_auc").GetDouble(), cluster.GetProperty("mean_test_roc_auc").GetDouble());
        Assert.True(cluster.GetProperty("history").EnumerateArray().All(e => e.GetProperty("exchange_bytes").GetInt64() > 0));
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Processes of one test: output captured into the test log, all killed (with their children) at the end.</summary>
public sealed class ProcessGroup(ITestOutputHelper output) : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly Dictionary<int, List<string>> _lines = [];

    public static string MtnnDll
    {
        get
        {
            var built = RepoPaths.File("Cli/bin/Release/net10.0/mtnn.dll");
            return File.Exists(built) ? built : Path.Combine(AppContext.BaseDirectory, "mtnn.dll");
        }
    }

    public Process Start(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(MtnnDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start mtnn");
        var lines = new List<string>();
        lock (_lines) _lines[process.Id] = lines;
        var label = $"{args[0]}#{process.Id}";
        process.OutputDataReceived += (_, e) => Log(label, lines, e.Data);
        process.ErrorDataReceived += (_, e) => Log(label, lines, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    public async Task<int> WaitForExit(Process process, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"process {process.Id} did not exit within {limit}");
        }
        return process.ExitCode;
    }

    /// <summary>What the process has printed so far (stdout and stderr).</summary>
    /// <summary>One <c>mtnn</c> command run to its end: exit code and everything it printed.</summary>
    public static async Task<(int Code, string Output)> RunToExit(ITestOutputHelper output, TimeSpan limit, params string[] args)
    {
        using var processes = new ProcessGroup(output);
        var process = processes.Start(args);
        var code = await processes.WaitForExit(process, limit);
        process.WaitForExit(); // the output readers drain
        return (code, processes.Output(process));
    }

    public string Output(Process process)
    {
        List<string> lines;
        lock (_lines) lines = _lines[process.Id];
        lock (lines) return string.Join('\n', lines);
    }

    /// <summary>Waits until the process has printed a line containing <paramref name="text"/>.</summary>
    public Task WaitForOutput(Process process, string text, TimeSpan limit) =>
        WaitForLine(process, line => line.Contains(text, StringComparison.Ordinal), limit);

    /// <summary>Waits until the process has written a line that <paramref name="match"/> accepts; returns that line.</summary>
    public async Task<string> WaitForLine(Process process, Func<string, bool> match, TimeSpan limit)
    {
        List<string> lines;
        lock (_lines) lines = _lines[process.Id];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            lock (lines)
                if (lines.FirstOrDefault(match) is { } line) return line;
            if (process.HasExited) throw new InvalidOperationException($"process {process.Id} exited ({process.ExitCode}) before writing the expected line");
            await Task.Delay(50);
        }
        throw new TimeoutException($"process {process.Id} did not write the expected line within {limit}");
    }

    /// <summary>Sends a POSIX signal (TERM, KILL) to the process.</summary>
    public static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", ["-s", signal, process.Id.ToString()]);
        kill.WaitForExit();
    }

    private void Log(string name, List<string> lines, string? line)
    {
        if (line is null) return;
        lock (lines) lines.Add(line);
        try { output.WriteLine($"[{name}] {line}"); }
        catch (InvalidOperationException) { } // the test has finished; its log is closed
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException) { }
            process.Dispose();
        }
    }
}
