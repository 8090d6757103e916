using System.Globalization;
using System.Text.Json;
using MtnnCluster.Cli.Commands;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary><c>train --seeds</c> and <c>train --ensemble</c> on a slice of Tox21, then <c>predict</c> of the ensemble and of each member.</summary>
[Collection("console")]
public sealed class SeedsCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-seeds-{Guid.NewGuid():N}");
    private readonly string _data;

    public SeedsCommandTests()
    {
        Directory.CreateDirectory(_directory);
        _data = Path.Combine(_directory, "tox21-slice.csv");
        File.WriteAllLines(_data, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(3001));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static readonly string[] Small = CommandRun.Small;

    private static Task<(int Code, string Output, string Error)> Run(params string[] args) => CommandRun.Run(args);

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private static double? Number(JsonElement e) => e.ValueKind == JsonValueKind.Null ? null : e.GetDouble();

    private static void AssertMeanAndStd(IReadOnlyList<double?> runs, JsonElement summary)
    {
        var present = runs.OfType<double>().ToArray();
        if (present.Length == 0)
        {
            Assert.Equal(JsonValueKind.Null, summary.ValueKind);
            return;
        }
        var mean = present.Average();
        Assert.Equal(mean, summary.GetProperty("mean").GetDouble(), 12);
        Assert.Equal(present.Length, summary.GetProperty("runs").GetInt32());
        if (present.Length > 1)
            Assert.Equal(Math.Sqrt(present.Sum(v => (v - mean) * (v - mean)) / (present.Length - 1)), summary.GetProperty("std").GetDouble(), 12);
    }

    [Fact]
    public async Task Seeds_write_a_run_per_seed_and_the_mean_and_sample_std_of_their_metrics()
    {
        var output = Path.Combine(_directory, "seeds");
        var (code, printed, error) = await Run(["train", "--data", _data, "--out", output, "--seeds", "0,1,2", .. Small]);
        Assert.True(code == 0, error);

        var runs = new[] { 0, 1, 2 }.Select(seed => Json(Path.Combine(output, $"seed-{seed}", "metrics.json"))).ToArray();
        Assert.All(new[] { 0, 1, 2 }, seed => Assert.True(Directory.Exists(Path.Combine(output, $"seed-{seed}", "checkpoint"))));
        // each seed is the run --seed N alone would train: its own split too
        Assert.Equal(3, runs.Select(r => r.GetProperty("tasks")[0].GetProperty("train_labels").GetInt32()).Distinct().Count());

        var group = Json(Path.Combine(output, "metrics.json"));
        Assert.Equal("seeds", group.GetProperty("kind").GetString());
        Assert.Equal(["seed-0", "seed-1", "seed-2"], group.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("directory").GetString()));
        foreach (var metric in new[] { "mean_train_roc_auc", "mean_valid_roc_auc", "mean_test_roc_auc", "mean_valid_prc_auc", "mean_test_prc_auc", "mean_test_rmse" })
            AssertMeanAndStd(runs.Select(r => Number(r.GetProperty(metric))).ToArray(), group.GetProperty(metric));
        var tasks = group.GetProperty("tasks").EnumerateArray().ToArray();
        Assert.Equal(12, tasks.Length);
        for (var j = 0; j < tasks.Length; j++)
            foreach (var metric in new[] { "test_roc_auc", "test_prc_auc", "valid_roc_auc" })
                AssertMeanAndStd(runs.Select(r => Number(r.GetProperty("tasks")[j].GetProperty(metric))).ToArray(), tasks[j].GetProperty(metric));

        var test = group.GetProperty("mean_test_roc_auc");
        Assert.Contains($"mean test ROC-AUC {test.GetProperty("mean").GetDouble():F4} ± {test.GetProperty("std").GetDouble():F4} over 3 seeds", printed);
    }

    [Fact]
    public async Task Seeds_on_two_workers_run_at_once_each_on_its_own_and_train_what_each_seed_alone_trains()
    {
        var output = Path.Combine(_directory, "seeds-two");
        var (code, printed, error) = await Run(["train", "--data", _data, "--out", output, "--seeds", "0,1", .. Small[..^2], "--workers", "2"]);
        Assert.True(code == 0, error);
        var workersOf = new[] { 0, 1 }.Select(seed => Json(Path.Combine(output, $"seed-{seed}", "metrics.json")).GetProperty("workers")
            .EnumerateArray().Select(w => w.GetProperty("id").GetString()!).Single()).ToArray();
        Assert.Equal(["local-0", "local-1"], workersOf.Order()); // one worker each, the two at once
        Assert.Contains("seed-1: ", printed);

        var alone = Path.Combine(_directory, "seed-1-alone");
        (code, _, error) = await Run(["train", "--data", _data, "--out", alone, "--seed", "1", .. Small]);
        Assert.True(code == 0, error);
        Assert.Equal(Json(Path.Combine(alone, "metrics.json")).GetProperty("mean_test_roc_auc").GetDouble(),
            Json(Path.Combine(output, "seed-1", "metrics.json")).GetProperty("mean_test_roc_auc").GetDouble());
    }

    [Fact]
    public async Task Bf16_on_the_wire_halves_the_embedding_bytes_and_changes_nothing_for_one_worker()
    {
        async Task<JsonElement> Train(string name, int workers, string wire)
        {
            var output = Path.Combine(_directory, name);
            var (code, _, error) = await Run(["train", "--data", _data, "--out", output, "--seed", "3", "--wire-precision", wire, .. Small[..^2], "--workers", workers.ToString()]);
            Assert.True(code == 0, error);
            return Json(Path.Combine(output, "metrics.json"));
        }
        static long Bytes(JsonElement m) => m.GetProperty("history").EnumerateArray().Sum(h => h.GetProperty("exchange_bytes").GetInt64());
        var (fp32, bf16) = (await Train("wire-fp32", 2, "fp32"), await Train("wire-bf16", 2, "bf16"));
        Assert.True(Bytes(bf16) < Bytes(fp32), $"bf16 {Bytes(bf16)} bytes, fp32 {Bytes(fp32)}");
        Assert.InRange(bf16.GetProperty("mean_test_roc_auc").GetDouble() - fp32.GetProperty("mean_test_roc_auc").GetDouble(), -0.02, 0.02);
        // alone, a worker sends nothing: the same model to the bit
        Assert.Equal((await Train("alone-fp32", 1, "fp32")).GetProperty("mean_test_roc_auc").GetDouble(),
            (await Train("alone-bf16", 1, "bf16")).GetProperty("mean_test_roc_auc").GetDouble());
        var (_, _, refused) = await Run(["train", "--data", _data, "--out", Path.Combine(_directory, "wire-bad"), "--wire-precision", "fp8", .. Small]);
        Assert.Contains("--wire-precision must be fp32 or bf16", refused);
    }

    [Fact]
    public async Task Predict_of_an_ensemble_is_the_mean_of_its_members_predictions()
    {
        var output = Path.Combine(_directory, "ensemble");
        var (code, _, error) = await Run(["train", "--data", _data, "--out", output, "--ensemble", "3", "--seed", "4", .. Small]);
        Assert.True(code == 0, error);

        var members = Enumerable.Range(0, 3).Select(k => Path.Combine(output, $"member-{k}")).ToArray();
        var memberMetrics = members.Select(m => Json(Path.Combine(m, "metrics.json"))).ToArray();
        // one split for all members, seeds 4, 5, 6
        Assert.Single(memberMetrics.Select(r => string.Join(',', r.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("test_labels").GetInt32()))).Distinct());
        Assert.Equal([4, 5, 6], Json(Path.Combine(output, "metrics.json")).GetProperty("seeds").EnumerateArray().Select(s => s.GetInt32()));

        var ensembleCsv = Path.Combine(_directory, "ensemble.csv");
        Assert.Equal(0, (await Run("predict", "--checkpoint", output, "--data", _data, "--out", ensembleCsv)).Code);
        var memberCsvs = new List<string[][]>();
        foreach (var member in members)
        {
            var csv = Path.Combine(_directory, $"{Path.GetFileName(member)}.csv");
            Assert.Equal(0, (await Run("predict", "--checkpoint", Path.Combine(member, "checkpoint"), "--data", _data, "--out", csv)).Code);
            memberCsvs.Add(ReadCsv(csv));
        }
        var ensemble = ReadCsv(ensembleCsv);
        Assert.Equal(memberCsvs[0][0], ensemble[0]); // header: the input's columns, error, the tasks
        var (compared, differs) = (0, false);
        var firstTask = Array.IndexOf(ensemble[0], "error") + 1; // the input's columns and the error come first
        Assert.True(firstTask > 1);
        for (var row = 1; row < ensemble.Length; row++)
            for (var column = firstTask; column < ensemble[row].Length; column++)
            {
                if (ensemble[row][column].Length == 0)
                {
                    Assert.All(memberCsvs, m => Assert.Equal("", m[row][column])); // an invalid SMILES stays empty
                    continue;
                }
                var values = memberCsvs.Select(m => double.Parse(m[row][column], CultureInfo.InvariantCulture)).ToArray();
                Assert.Equal(values.Average(), double.Parse(ensemble[row][column], CultureInfo.InvariantCulture), 1e-6); // float32 sums
                differs |= values.Max() - values.Min() > 1e-4;
                compared++;
            }
        Assert.Equal(3000 - 3, compared / 12); // every valid row, every task
        Assert.True(differs, "the members are different models");

        // the ensemble's own test scores sit beside the members' mean ± std
        var group = Json(Path.Combine(output, "metrics.json"));
        Assert.Equal("ensemble", group.GetProperty("kind").GetString());
        var own = group.GetProperty("ensemble");
        Assert.Equal(3, own.GetProperty("members").GetInt32());
        Assert.InRange(own.GetProperty("mean_test_roc_auc").GetDouble(), 0, 1);
        Assert.Equal(12, own.GetProperty("tasks").GetArrayLength());
        AssertMeanAndStd(memberMetrics.Select(m => Number(m.GetProperty("mean_test_roc_auc"))).ToArray(), group.GetProperty("mean_test_roc_auc"));
    }

    [Fact]
    public async Task Resume_auto_keeps_the_finished_seeds_and_a_second_run_without_it_is_refused()
    {
        var output = Path.Combine(_directory, "resumed");
        string[] train = ["train", "--data", _data, "--out", output, "--seeds", "0,1", .. Small];
        Assert.Equal(0, (await Run(train)).Code);
        var before = File.ReadAllText(Path.Combine(output, "metrics.json"));

        var (code, _, error) = await Run(train);
        Assert.Equal(2, code);
        Assert.Contains("--resume auto", error);

        var (resumed, printed, _) = await Run([.. train, "--resume", "auto"]);
        Assert.Equal(0, resumed);
        Assert.Equal(2, printed.Split("has already finished").Length - 1);
        Assert.Equal(before, File.ReadAllText(Path.Combine(output, "metrics.json")));
    }

    private static string[][] ReadCsv(string path) => File.ReadAllLines(path).Select(l => l.Split(',')).ToArray();

    [Theory]
    [InlineData("--seeds", new[] { "--seeds", "," }, "names no seed")]
    [InlineData("--seeds", new[] { "--seeds", "0,1,1" }, "seed 1 is given twice")]
    [InlineData("--seeds", new[] { "--seeds", "0,x" }, "'x' is not a seed")]
    [InlineData("--seeds", new[] { "--seeds", "0,-1" }, "'-1' is not a seed")]
    [InlineData("--seed", new[] { "--seeds", "0,1", "--seed", "3" }, "--seeds and --seed cannot be combined")]
    [InlineData("--ensemble", new[] { "--seeds", "0,1", "--ensemble", "2" }, "--seeds and --ensemble cannot be combined")]
    [InlineData("--ensemble", new[] { "--ensemble", "1" }, "at least 2 members")]
    [InlineData("--resume", new[] { "--seeds", "0,1", "--resume", "elsewhere" }, "--resume auto")]
    public async Task Bad_seeds_and_ensembles_are_refused_naming_the_option(string option, string[] args, string message)
    {
        var output = Path.Combine(_directory, "refused");
        var (code, _, error) = await Run(["train", "--data", _data, "--out", output, .. args, .. Small]);
        Assert.Equal(2, code);
        Assert.Contains(option, error);
        Assert.Contains(message, error);
        Assert.False(File.Exists(Path.Combine(output, "metrics.json")));
        Assert.False(Directory.Exists(Path.Combine(output, "seed-0")));
    }
}
