using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MtnnCluster.Telemetry;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// A real `mtnn train` process with --metrics-port: while it trains, its Prometheus endpoint on 127.0.0.1 serves
/// the project's instruments under their Prometheus names.
/// </summary>
[Collection(Processes.Collection)]
public sealed class MetricsEndpointTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    /// <summary>What a training process records (exchange bytes need remote workers; reassignments, a lost worker).</summary>
    private static readonly string[] Expected =
    [
        "mtnn_train_rows_total{", "mtnn_train_step_duration_seconds_bucket{", "mtnn_round_duration_seconds_count{",
        "mtnn_task_loss{otel_scope_name=\"MtnnCluster\",task=\"NR-AR\"}", "mtnn_task_loss{otel_scope_name=\"MtnnCluster\",task=\"SR-ARE\"}",
        "mtnn_train_loss{", "mtnn_validation_score{", "mtnn_epoch{", "mtnn_workers_alive{otel_scope_name=\"MtnnCluster\"} 1",
    ];

    [Fact]
    public async Task A_training_process_serves_its_metrics_while_it_runs()
    {
        var port = HealthEndpointTests.FreePort();
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-metrics-{Guid.NewGuid():N}");
        // the processes are stopped (the group disposed, at the end of the try block) before their directory is deleted:
        // a run still writing its checkpoints made the delete fail with "Directory not empty"
        try
        {
            using var processes = new ProcessGroup(output);
            // a small model on the whole Tox21 file, with more epochs than the test waits for: the run outlives the
            // scrapes however fast the machine, and is stopped (killed with the group) once they have seen everything
            var train = processes.Start(["train", "--data", RepoPaths.File("examples/tox21.csv"), "--tasks", "NR-AR,SR-ARE", "--epochs", "200",
                "--patience", "0", "--layers", "64,32", "--bits", "1024", "--out", outDirectory, "--metrics-port", $"{port}"]);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var url = $"http://127.0.0.1:{port}{TelemetryExport.ScrapePath}";
            var clock = Stopwatch.StartNew();
            var scrape = "";
            string[] missing = Expected;
            while (missing.Length > 0)
            {
                if (train.HasExited) Assert.Fail($"train exited ({train.ExitCode}) before {url} showed {string.Join(", ", missing)}:\n{scrape}");
                if (clock.Elapsed > Limit) Assert.Fail($"{url} lacked {string.Join(", ", missing)} after {Limit}:\n{scrape}");
                await Task.Delay(250);
                try
                {
                    scrape = await http.GetStringAsync(url);
                }
                catch (HttpRequestException)
                {
                    continue; // not listening yet
                }
                missing = Expected.Where(name => !scrape.Contains(name, StringComparison.Ordinal)).ToArray();
            }
            output.WriteLine($"all metrics served after {clock.Elapsed.TotalSeconds:F1} s:");
            foreach (var line in scrape.Split('\n').Where(l => l.StartsWith("mtnn_") && !l.Contains("_bucket"))) output.WriteLine(line);
            Assert.Contains("# TYPE mtnn_train_step_duration_seconds histogram", scrape);
            Assert.Contains("# TYPE mtnn_task_loss gauge", scrape);
            Assert.Contains("mtnn_role=\"train\"", scrape); // target_info names the process's role
        }
        finally
        {
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
        }
    }

    [Theory]
    [InlineData("train", "--metrics-port")]
    [InlineData("coordinator", "--metrics-port")]
    [InlineData("coordinator", "--health-port")]
    public async Task A_port_that_cannot_be_served_is_a_clear_error(string command, string option)
    {
        using var taken = new TcpListener(IPAddress.Any, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { ProcessGroup.MtnnDll, command, "--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(Path.GetTempPath(), $"mtnn-port-{Guid.NewGuid():N}"),
                     option, $"{port}" }.Concat(command == "coordinator" ? ["--bind", "127.0.0.1:0"] : []))
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        Assert.Equal(2, process.ExitCode);
        Assert.Contains($"error: {option} {port}: cannot listen", await stderr);
    }
}
