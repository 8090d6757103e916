using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MtnnCluster.Hosting;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// The health endpoint of real `mtnn worker` and `mtnn coordinator` processes on 127.0.0.1: a worker whose seed is
/// not up yet is alive but not ready; once the coordinator is up both are ready and count each other; the endpoint
/// answers GET only.
/// </summary>
[Collection(Processes.Collection)]
public sealed class HealthEndpointTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task Probes_report_joining_then_ready_with_the_members_up()
    {
        var remoting = FreePort();
        var (workerHealth, coordinatorHealth) = (FreePort(), FreePort());
        var data = RepoPaths.File("examples/tox21.csv");
        using var processes = new ProcessGroup(output);
        var worker = processes.Start(["worker", "--seed", $"127.0.0.1:{remoting}", "--bind", "127.0.0.1:0", "--id", "probe-worker", "--health-port", $"{workerHealth}"]);

        var (aliveStatus, alive) = await WaitFor(workerHealth, HealthEndpoint.LivenessPath, (status, _) => status == HttpStatusCode.OK, worker);
        Assert.Equal("alive", alive.GetProperty("status").GetString());
        var (joiningStatus, joining) = await Get(workerHealth, HealthEndpoint.ReadinessPath);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, joiningStatus); // its seed is not up: not ready
        Assert.False(joining.GetProperty("joined").GetBoolean());
        Assert.Equal("worker", joining.GetProperty("role").GetString());

        // min-workers 2: the coordinator waits and never starts a run, so both nodes stay up for the probes
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{remoting}", "--min-workers", "2", "--data", data,
            "--out", Path.Combine(Path.GetTempPath(), $"mtnn-health-{Guid.NewGuid():N}"), "--health-port", $"{coordinatorHealth}"]);
        var (_, ready) = await WaitFor(workerHealth, HealthEndpoint.ReadinessPath,
            (status, body) => status == HttpStatusCode.OK && body.GetProperty("coordinator_up").GetBoolean(), worker);
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Equal("Up", ready.GetProperty("member_status").GetString());
        Assert.Equal(2, ready.GetProperty("members_up").GetInt32());
        Assert.Equal(1, ready.GetProperty("workers_up").GetInt32());
        Assert.StartsWith("akka.tcp://mtnn@127.0.0.1:", ready.GetProperty("node").GetString());

        var (_, coordinatorReady) = await WaitFor(coordinatorHealth, HealthEndpoint.ReadinessPath,
            (status, body) => status == HttpStatusCode.OK && body.GetProperty("workers_up").GetInt32() == 1, coordinator);
        Assert.Equal("coordinator", coordinatorReady.GetProperty("role").GetString());
        Assert.Equal($"akka.tcp://mtnn@127.0.0.1:{remoting}", coordinatorReady.GetProperty("node").GetString());

        // read-only: nothing but GET, nothing but the two probes
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete })
        {
            using var response = await Http.SendAsync(new HttpRequestMessage(method, Url(coordinatorHealth, HealthEndpoint.ReadinessPath)));
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal(["GET"], response.Content.Headers.Allow);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await Get(coordinatorHealth, "/metrics")).Status);
        Assert.False(coordinator.HasExited);
        Assert.False(worker.HasExited);
    }

    private static string Url(int port, string path) => $"http://127.0.0.1:{port}{path}";

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Get(int port, string path)
    {
        using var response = await Http.GetAsync(Url(port, path));
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body);
    }

    /// <summary>Polls until the probe satisfies <paramref name="done"/>; fails if the process exits or time runs out.</summary>
    private async Task<(HttpStatusCode Status, JsonElement Body)> WaitFor(int port, string path, Func<HttpStatusCode, JsonElement, bool> done,
        System.Diagnostics.Process process)
    {
        var deadline = DateTime.UtcNow + Limit;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) Assert.Fail($"process {process.Id} exited ({process.ExitCode}) before {path} on port {port} answered as expected");
            try
            {
                var (status, body) = await Get(port, path);
                if (done(status, body)) return (status, body);
                last = $"{(int)status} {body}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message; // not listening yet
            }
            await Task.Delay(250);
        }
        output.WriteLine($"last answer of {path}: {last}");
        throw new TimeoutException($"{path} on port {port} did not answer as expected within {Limit}; last: {last}");
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
