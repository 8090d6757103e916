using System.Net;
using MtnnCluster.Hosting;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// The HTTP endpoints listen where the operator asked: a real `mtnn worker` process's health and metrics sockets, read
/// from /proc, are on --bind's host, or on --http-bind's; and /status keeps paths and addresses to itself unless asked.
/// </summary>
[Collection(Processes.Collection)]
public sealed class HttpBindingTests(ITestOutputHelper output)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>The addresses a worker started with <paramref name="extra"/> listens on at its health and metrics ports, once both answer.</summary>
    private async Task<(IPAddress[] Health, IPAddress[] Metrics)> WorkerEndpoints(params string[] extra)
    {
        var (health, metrics, nobody) = (HealthEndpointTests.FreePort(), HealthEndpointTests.FreePort(), HealthEndpointTests.FreePort());
        using var processes = new ProcessGroup(output);
        var worker = processes.Start(["worker", "--seed", $"127.0.0.1:{nobody}", "--bind", "127.0.0.1:0", "--id", "bound-worker",
            "--health-port", $"{health}", "--metrics-port", $"{metrics}", .. extra]);
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var live = await Http.GetAsync($"http://127.0.0.1:{health}{HealthEndpoint.LivenessPath}");
                using var scrape = await Http.GetAsync($"http://127.0.0.1:{metrics}{Telemetry.TelemetryExport.ScrapePath}");
                if (live.IsSuccessStatusCode && scrape.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException)
            {
            }
            Assert.False(worker.HasExited, "the worker exited before serving its endpoints");
            await Task.Delay(100);
        }
        var sockets = ListeningSockets.Of(worker.Id);
        output.WriteLine(string.Join(", ", sockets.Select(s => $"{s.Address}:{s.Port}")));
        return (sockets.Where(s => s.Port == health).Select(s => s.Address).ToArray(), sockets.Where(s => s.Port == metrics).Select(s => s.Address).ToArray());
    }

    [Fact]
    public async Task Health_and_metrics_listen_on_the_bind_host_only()
    {
        var (health, metrics) = await WorkerEndpoints();
        // before: on every interface (0.0.0.0 or ::), whatever --bind said
        Assert.Equal([IPAddress.Loopback], health);
        Assert.Equal([IPAddress.Loopback], metrics);
    }

    [Fact]
    public async Task Http_bind_names_another_host_for_them()
    {
        var (health, metrics) = await WorkerEndpoints("--http-bind", "0.0.0.0");
        Assert.All(health.Concat(metrics), a => Assert.True(a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any), $"{a} is not every interface"));
        Assert.NotEmpty(health);
        Assert.NotEmpty(metrics);
    }

    [Fact]
    public void Status_names_no_path_and_no_address_unless_asked()
    {
        var now = DateTimeOffset.UtcNow;
        var summary = new RunSummary("run-1", RunPhase.Training, 2, 5, 1, 1, 0.7, null, "/secret/place/tox21.csv", 100, 12,
            [new WorkerSummary("worker-a", "akka.tcp://mtnn@10.1.2.3:4053", "cpu", 1, 12)],
            [new RunEvent(now, RunEventKind.CheckpointFailed, "", 0, 2, Detail: "/secret/place/out/checkpoints: disk full")], now, now);
        var plain = System.Text.Json.JsonSerializer.Serialize(ClusterProbes.Run(summary).Body);
        Assert.DoesNotContain("/secret", plain);
        Assert.DoesNotContain("10.1.2.3", plain);
        Assert.Contains("tox21.csv", plain); // the dataset's name, and the worker's id, stay: an operator watches with them
        Assert.Contains("worker-a", plain);
        var detailed = System.Text.Json.JsonSerializer.Serialize(ClusterProbes.Run(summary, detail: true).Body);
        Assert.Contains("/secret/place/tox21.csv", detailed);
        Assert.Contains("10.1.2.3", detailed);
    }
}
