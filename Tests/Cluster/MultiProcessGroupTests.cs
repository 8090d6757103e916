using System.Text.Json;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// <c>mtnn coordinator --seeds</c> with two <c>mtnn worker</c> processes on 127.0.0.1: the seeds' runs go on at the
/// same time, one worker each, the third on whichever worker is free first (a job's end keeps its worker for the
/// next), each run what that seed alone trains in one process, and every process exits 0 when the group is done.
/// </summary>
[Collection(Processes.Collection)]
public sealed class MultiProcessGroupTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private static readonly string[] Small = ["--epochs", "2", "--layers", "32", "--bits", "256", "--batch-size", "64", "--lr", "3e-3"];

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public async Task A_group_refuses_the_coordinator_s_own_worker_wait()
    {
        var (code, printed) = await ProcessGroup.RunToExit(output, Limit, "coordinator", "--bind", $"127.0.0.1:{MultiProcessTrainingTests.FreePort()}",
            "--out", Path.Combine(slice.Directory, "refused"), "--data", slice.Csv, "--seeds", "0,1", "--worker-wait", "5m");
        Assert.Equal(2, code);
        Assert.Contains("--worker-wait is not taken with --seeds or --ensemble", printed);
    }

    [Fact]
    public async Task Three_seeds_on_two_worker_processes_run_side_by_side_then_in_turn()
    {
        var port = MultiProcessTrainingTests.FreePort();
        var groupOut = Path.Combine(slice.Directory, "cluster-seeds");
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "1", "--start-with", "2", "--out", groupOut, "--data", slice.Csv, "--seeds", "0,1,2", .. Small]);
        var workers = new[] { "worker-a", "worker-b" }
            .Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();
        foreach (var process in workers.Prepend(coordinator))
            Assert.Equal(0, await processes.WaitForExit(process, Limit));

        var ranOn = new[] { 0, 1, 2 }.Select(seed => Json(Path.Combine(groupOut, $"seed-{seed}", "metrics.json")).GetProperty("workers")
            .EnumerateArray().Select(w => w.GetProperty("id").GetString()!).Single()).ToArray();
        Assert.Equal(["worker-a", "worker-b"], ranOn.Distinct().Order()); // both workers trained, one run each at a time
        Assert.Equal("seeds", Json(Path.Combine(groupOut, "metrics.json")).GetProperty("kind").GetString());

        var alone = Path.Combine(slice.Directory, "seed-2-alone");
        var root = new System.CommandLine.RootCommand { MtnnCluster.Cli.Commands.TrainCommand.Create() };
        Assert.Equal(0, await root.Parse(["train", "--out", alone, "--data", slice.Csv, "--seed", "2", .. Small]).InvokeAsync());
        Assert.Equal(Json(Path.Combine(alone, "metrics.json")).GetProperty("mean_test_roc_auc").GetDouble(),
            Json(Path.Combine(groupOut, "seed-2", "metrics.json")).GetProperty("mean_test_roc_auc").GetDouble());
    }
}
