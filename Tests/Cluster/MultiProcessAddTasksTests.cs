using MtnnCluster.Tests.Commands;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// <c>add-tasks --bind</c> as a cluster coordinator and two <c>mtnn worker</c> processes on 127.0.0.1, started as a
/// user would, against the in-process run: the same heads, and every process exits 0 when the job is done.
/// </summary>
[Collection(Processes.Collection)]
public sealed class MultiProcessAddTasksTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string _directory = Directory.CreateTempSubdirectory("mtnn-add-cluster-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Workers_that_join_an_add_tasks_coordinator_fit_the_heads_one_process_fits()
    {
        var trained = AddTasksFiles.TrainedCheckpoint(_directory);
        var data = AddTasksFiles.NewTasks(_directory);
        var (clusterOut, localOut) = (Path.Combine(_directory, "cluster"), Path.Combine(_directory, "local"));
        var port = MultiProcessTrainingTests.FreePort();
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(["add-tasks", "--checkpoint", trained, "--data", data, "--out", clusterOut, "--bind", $"127.0.0.1:{port}", "--min-workers", "2"]);
        var workers = new[] { "worker-a", "worker-b" }
            .Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();
        foreach (var process in workers.Prepend(coordinator))
            Assert.Equal(0, await processes.WaitForExit(process, Limit));
        coordinator.WaitForExit();
        Assert.Contains("shared out over 2 worker(s): worker-a 1, worker-b 1", processes.Output(coordinator));

        var root = new System.CommandLine.RootCommand { MtnnCluster.Cli.Commands.AddTasksCommand.Create() };
        Assert.Equal(0, await root.Parse(["add-tasks", "--checkpoint", trained, "--data", data, "--out", localOut]).InvokeAsync());
        AddTasksFiles.AssertSameHeads(Path.Combine(localOut, "checkpoint"), Path.Combine(clusterOut, "checkpoint"));
    }
}
