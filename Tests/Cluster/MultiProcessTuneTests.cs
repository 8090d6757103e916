using System.Text.Json;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// <c>mtnn tune --bind</c> with two <c>mtnn worker</c> processes: every rung's trials train on the workers, which
/// stay between rungs; the search scores its trials as the in-process one does, and every process exits 0.
/// </summary>
[Collection(Processes.Collection)]
public sealed class MultiProcessTuneTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private static readonly string[] Tiny = ["--layers", "32", "--bits", "256", "--batch-size", "64"];

    private static JsonElement[] Trials(string directory) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "tune.json"))).RootElement.GetProperty("trials").EnumerateArray().ToArray();

    [Fact]
    public async Task A_search_on_two_worker_processes_scores_its_trials_as_in_one_process()
    {
        var port = MultiProcessTrainingTests.FreePort();
        var clusterOut = Path.Combine(slice.Directory, "cluster-tune");
        string[] search = ["tune", "--data", slice.Csv, "--trials", "3", "--budget", "2", "--seed", "5", .. Tiny];
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start([.. search, "--out", clusterOut, "--bind", $"127.0.0.1:{port}", "--min-workers", "1", "--start-with", "2"]);
        var workers = new[] { "worker-a", "worker-b" }
            .Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();
        foreach (var process in workers.Prepend(coordinator))
            Assert.Equal(0, await processes.WaitForExit(process, Limit));

        // both workers trained trials: the first rung's first two side by side (--start-with 2). A trial's metrics.json
        // is its last rung's, which may all have gone to the worker free first, so the coordinator's lines say it
        var registered = processes.Output(coordinator).Split('\n')
            .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"trial-\d+: worker (worker-[ab]) registered"))
            .Where(m => m.Success).Select(m => m.Groups[1].Value);
        Assert.Equal(["worker-a", "worker-b"], registered.Distinct().Order());

        var localOut = Path.Combine(slice.Directory, "local-tune");
        var root = new System.CommandLine.RootCommand { MtnnCluster.Cli.Commands.TuneCommand.Create() };
        Assert.Equal(0, await root.Parse([.. search, "--out", localOut]).InvokeAsync());
        Assert.Equal(Trials(localOut).Select(t => t.GetProperty("rung_scores").ToString()), Trials(clusterOut).Select(t => t.GetProperty("rung_scores").ToString()));
    }
}
