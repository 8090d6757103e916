using MtnnCluster.Tests.Cluster;
using System.CommandLine;
using System.Text.Json;
using MtnnCluster.Cli.Commands;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// The README's main command on the real datasets with default settings, held to MoleculeNet's published
/// multitask-network figures (random split, ECFP): Tox21 mean test ROC-AUC about 0.80, ToxCast about 0.70.
/// These are the slow tests of the suite (minutes, not seconds).
/// </summary>
[Collection(Processes.Collection)]
public sealed class BenchmarkQualityTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), $"mtnn-quality-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
    }

    [Theory]
    [InlineData("examples/tox21.csv", 0.80)]
    [InlineData("examples/toxcast.csv.gz", 0.70)]
    public async Task Default_training_reaches_the_published_mean_test_roc_auc(string dataset, double atLeast)
    {
        var root = new RootCommand { TrainCommand.Create() };
        var code = await root.Parse(["train", "--data", RepoPaths.File(dataset), "--out", _out, "--seed", "0"]).InvokeAsync();
        Assert.Equal(0, code);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "metrics.json")));
        var auc = metrics.RootElement.GetProperty("mean_test_roc_auc").GetDouble();
        output.WriteLine($"{dataset}: mean test ROC-AUC {auc:F4}, best epoch {metrics.RootElement.GetProperty("best_epoch")}, " +
                         $"{metrics.RootElement.GetProperty("wall_seconds")} s");
        Assert.True(auc >= atLeast, $"{dataset}: mean test ROC-AUC {auc:F4} < {atLeast}");
    }
}
