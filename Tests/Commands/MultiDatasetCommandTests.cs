using System.Text.Json;
using MtnnCluster.Cli.Commands;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary><c>train --data a --data b</c> on two slices of Tox21 (overlapping molecules, one task name in both): per-dataset metrics, <c>--eval-datasets</c>.</summary>
[Collection("console")]
public sealed class MultiDatasetCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-multi-{Guid.NewGuid():N}");
    private readonly string _a, _b;

    public MultiDatasetCommandTests()
    {
        Directory.CreateDirectory(_directory);
        var lines = File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(2501).Select(l => l.Split(',')).ToArray();
        // a: NR-AR and the NR-* tasks of rows 1-1500; b: NR-AR and the SR-* tasks of rows 1001-2500
        string Columns(string[] fields, int[] columns) => string.Join(',', columns.Select(c => fields[c]));
        int[] aColumns = [0, 1, 2, 3, 4, 5, 6, 7], bColumns = [0, 1, 8, 9, 10, 11, 12];
        _a = Path.Combine(_directory, "a.csv");
        _b = Path.Combine(_directory, "b.csv");
        File.WriteAllLines(_a, lines.Take(1501).Select(f => Columns(f, aColumns)));
        File.WriteAllLines(_b, lines.Take(1).Concat(lines.Skip(1001)).Select(f => Columns(f, bColumns)));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static readonly string[] Small = CommandRun.Small;

    private static Task<(int Code, string Output, string Error)> Run(params string[] args) => CommandRun.Run(args);

    private static double? MeanOfScored(IEnumerable<JsonElement> tasks, string metric, string split)
    {
        var scored = tasks.Where(t => !t.GetProperty("not_scored_in").EnumerateArray().Any(s => s.GetString() == split)).Select(t => t.GetProperty(metric).GetDouble()).ToArray();
        return scored.Length > 0 ? scored.Average() : null;
    }

    [Fact]
    public async Task Metrics_json_has_each_datasets_means_and_the_headline_follows_eval_datasets()
    {
        var output = Path.Combine(_directory, "run");
        var (code, _, error) = await Run(["train", "--data", _a, "--data", _b, "--eval-datasets", "b", "--label-conflicts", "drop", "--out", output, .. Small]);
        Assert.True(code == 0, error);

        var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json"))).RootElement;
        // rows 1001-1500 are in both files (Tox21 writes a few molecules twice, with and without stereo marks: those of b join a's first)
        Assert.InRange(metrics.GetProperty("rows").GetInt32(), 2400, 2500);
        var tasks = metrics.GetProperty("tasks").EnumerateArray().ToArray();
        Assert.Equal(["a/NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma", "b/NR-AR", "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53"],
            tasks.Select(t => t.GetProperty("name").GetString()));
        var datasets = metrics.GetProperty("datasets").EnumerateArray().ToArray();
        Assert.Equal(["a", "b"], datasets.Select(d => d.GetProperty("name").GetString()));
        Assert.Equal([7, 6], datasets.Select(d => d.GetProperty("tasks").GetInt32()));
        // molecules labelled for the dataset's own tasks: Tox21 leaves some rows' NR-* or SR-* cells all empty
        Assert.All(datasets, d => Assert.InRange(d.GetProperty("molecules").GetInt32(), 1300, 1500));
        Assert.Equal([false, true], datasets.Select(d => d.GetProperty("evaluated").GetBoolean()));
        foreach (var dataset in datasets)
        {
            var own = tasks.Where(t => t.GetProperty("dataset").GetString() == dataset.GetProperty("name").GetString()).ToArray();
            Assert.Equal(MeanOfScored(own, "test_roc_auc", "test")!.Value, dataset.GetProperty("mean_test_roc_auc").GetDouble(), 12);
            Assert.Equal(MeanOfScored(own, "valid_roc_auc", "valid")!.Value, dataset.GetProperty("mean_valid_roc_auc").GetDouble(), 12);
        }
        // the headline is b's alone, and so is every epoch's validation score
        Assert.Equal(datasets[1].GetProperty("mean_test_roc_auc").GetDouble(), metrics.GetProperty("mean_test_roc_auc").GetDouble(), 12);
        Assert.Equal(datasets[1].GetProperty("mean_valid_roc_auc").GetDouble(),
            metrics.GetProperty("history").EnumerateArray().Single(h => h.GetProperty("epoch").GetInt32() == metrics.GetProperty("best_epoch").GetInt32()).GetProperty("valid_score").GetDouble(), 6);
    }

    [Fact]
    public async Task An_unknown_eval_dataset_is_refused_naming_the_option_and_the_datasets()
    {
        var (code, _, error) = await Run(["train", "--data", _a, "--data", _b, "--eval-datasets", "a,tox21", "--out", Path.Combine(_directory, "refused"), .. Small]);

        Assert.Equal(2, code);
        Assert.Contains("--eval-datasets: no dataset 'tox21'; the datasets are 'a', 'b'", error);
        Assert.False(Directory.Exists(Path.Combine(_directory, "refused", "checkpoint")));
    }
}
