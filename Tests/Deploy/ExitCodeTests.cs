using MtnnCluster.Coordinator.Commands;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// The exit codes the Kubernetes Jobs rely on, from the real executable on 127.0.0.1: 0 only when a run has ended
/// (a Job takes it for done and replaces nothing), the podFailurePolicy's FailJob code for bad configuration, and
/// something else, which the Job counts and replaces, for a node downed by the split-brain resolver or stopped
/// while its run goes on.
/// </summary>
[Collection(Processes.Collection)]
public sealed class ExitCodeTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    private readonly string _out = Path.Combine(Path.GetTempPath(), $"mtnn-exit-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
    }

    private static string[] Coordinator(int port, string outDirectory, int workers, int epochs) =>
    [
        "coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", $"{workers}", "--data", RepoPaths.File("examples/tox21.csv"),
        "--tasks", "NR-AR,SR-ARE", "--epochs", $"{epochs}", "--patience", "0", "--layers", "64,32", "--bits", "1024", "--out", outDirectory,
    ];

    private static string[] Worker(int port, string id) => ["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id];

    [Fact]
    public async Task A_run_that_ends_exits_0_on_every_node_and_bad_configuration_exits_with_the_code_that_fails_the_job()
    {
        var port = HealthEndpointTests.FreePort();
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(Coordinator(port, _out, workers: 1, epochs: 2));
        var worker = processes.Start(Worker(port, "w0"));
        Assert.Equal(0, await processes.WaitForExit(coordinator, Limit));
        Assert.Equal(0, await processes.WaitForExit(worker, Limit));
        Assert.True(File.Exists(Path.Combine(_out, "metrics.json")));

        var (jobs, container) = ManifestTests.Jobs();
        Assert.Equal("mtnn", container);
        var (workerCode, workerText) = await ProcessGroup.RunToExit(output, Limit, [.. Worker(port, "w1"), "--device", "tpu"]);
        var (coordinatorCode, coordinatorText) = await ProcessGroup.RunToExit(output, Limit, [.. Coordinator(port, Path.Combine(_out, "bad"), workers: 0, epochs: 1)]);
        Assert.Contains("error: ", workerText);
        Assert.Contains("error: --min-workers", coordinatorText);
        foreach (var job in jobs)
        {
            Assert.Contains(workerCode, ManifestTests.FailJobExitCodes(job));
            Assert.Contains(coordinatorCode, ManifestTests.FailJobExitCodes(job));
        }
    }

    [Fact]
    public async Task A_worker_downed_by_the_split_brain_resolver_or_stopped_mid_run_exits_with_a_code_the_job_replaces()
    {
        var port = HealthEndpointTests.FreePort();
        using var processes = new ProcessGroup(output);
        // more epochs than the test lasts: the run goes on while one worker is downed and the other stopped
        var coordinator = processes.Start(Coordinator(port, _out, workers: 2, epochs: 500));
        var paused = processes.Start(Worker(port, "paused"));
        var stopped = processes.Start(Worker(port, "stopped"));
        await processes.WaitForOutput(coordinator, "epoch   1/", Limit);

        // frozen past the failure detector and the resolver's stable-after (about 11 s): the others down it; thawed,
        // it learns so and stops
        ProcessGroup.Signal(paused, "STOP");
        await Task.Delay(TimeSpan.FromSeconds(20));
        ProcessGroup.Signal(paused, "CONT");
        var downed = await processes.WaitForExit(paused, Limit);
        Assert.Contains("its node was downed by the cluster", processes.Output(paused));

        ProcessGroup.Signal(stopped, "TERM"); // a drained node, a deleted pod: it leaves gracefully, its run goes on
        var left = await processes.WaitForExit(stopped, Limit);
        Assert.False(coordinator.HasExited, "the run should still be going");

        var (jobs, _) = ManifestTests.Jobs();
        foreach (var code in new[] { downed, left })
        {
            Assert.NotEqual(0, code);
            Assert.All(jobs, job => Assert.DoesNotContain(code, ManifestTests.FailJobExitCodes(job)));
        }
        Assert.Equal(ClusterCommands.NodeDownedExitCode, downed);
        Assert.Equal(ClusterCommands.StoppedExitCode, left);
    }
}
