using System.Text.Json;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary><c>mtnn tune</c> on a slice of Tox21 with a tiny model: the table, the best trial, and its train command.</summary>
[Collection("console")]
public sealed class TuneCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-tune-{Guid.NewGuid():N}");
    private readonly string _data;

    // the model's size is pinned (given explicitly), so the search draws learning rate, weight decay and the dropouts only
    private static readonly string[] Tiny = ["--layers", "32", "--bits", "256", "--batch-size", "64", "--workers", "1"];

    public TuneCommandTests()
    {
        Directory.CreateDirectory(_directory);
        _data = Path.Combine(_directory, "tox21-slice.csv");
        File.WriteAllLines(_data, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(3001));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_small_search_writes_its_table_and_the_best_trial_by_validation_which_train_reproduces()
    {
        var output = Path.Combine(_directory, "tune");
        var (code, printed, error) = await CommandRun.Run(["tune", "--data", _data, "--out", output, "--trials", "3", "--budget", "2", "--seed", "5", .. Tiny]);
        Assert.True(code == 0, error);

        var table = File.ReadAllLines(Path.Combine(output, "trials.tsv"));
        Assert.Equal(4, table.Length); // the header and 3 trials
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "tune.json"))).RootElement;
        var trials = summary.GetProperty("trials").EnumerateArray().ToArray();
        Assert.Equal(3, trials.Length);
        Assert.All(trials, t => Assert.True(File.Exists(Path.Combine(output, t.GetProperty("directory").GetString()!, "metrics.json"))));
        Assert.All(trials, t => Assert.InRange(t.GetProperty("epochs").GetInt32(), 1, 2));
        Assert.All(trials, t => Assert.Equal([32], t.GetProperty("layers").EnumerateArray().Select(l => l.GetInt32())));
        // rungs of 3 trials × 1 epoch, then the better 2 × 2 epochs
        Assert.Equal([(1, 3), (2, 2)], summary.GetProperty("rungs").EnumerateArray().Select(r => (r.GetProperty("epochs").GetInt32(), r.GetProperty("trials").GetInt32())));
        Assert.Equal(2, trials.Count(t => t.GetProperty("rung").GetInt32() == 2));

        var finalists = trials.Where(t => t.GetProperty("rung").GetInt32() == 2).ToArray();
        var best = summary.GetProperty("best");
        var highest = finalists.MaxBy(t => t.GetProperty("valid_score").GetDouble())!;
        Assert.Equal(highest.GetProperty("trial").GetInt32(), best.GetProperty("trial").GetInt32());
        // the trial left behind after rung 1 had the lowest 1-epoch score; its row keeps that score
        Assert.Equal(1, trials.Single(t => t.GetProperty("rung").GetInt32() == 1).GetProperty("epochs").GetInt32());
        Assert.Contains($"best: trial-{best.GetProperty("trial").GetInt32()}", printed);
        // the rung-by-rung scores (two for the finalists), and the page with their plot and the table
        Assert.All(finalists, t => Assert.Equal(2, t.GetProperty("rung_scores").GetArrayLength()));
        var report = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("data:image/png;base64,", report);
        Assert.All(trials, t => Assert.Contains($"<td>{t.GetProperty("directory").GetString()}</td>", report));
        Assert.Contains($"<b>trial-{best.GetProperty("trial").GetInt32()}</b>", report);

        // the printed train command trains the best trial again: the same validation score
        var train = summary.GetProperty("train_command").GetString()!;
        Assert.Contains($"reproduce: {train}", printed);
        var words = train.Split(' ');
        Assert.Equal(["mtnn", "train"], words[..2]);
        var (again, _, againError) = await CommandRun.Run(words[1..]);
        Assert.True(again == 0, againError);
        var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "best", "metrics.json"))).RootElement.GetProperty("history").EnumerateArray().ToArray();
        Assert.Equal(best.GetProperty("epochs").GetInt32(), history.Length);
        Assert.Equal(best.GetProperty("valid_score").GetDouble(), history.Max(h => h.GetProperty("valid_score").GetDouble()), 6);

        // the same seed samples the same trials
        var (repeat, _, repeatError) = await CommandRun.Run(["tune", "--data", _data, "--out", Path.Combine(_directory, "again"), "--trials", "3", "--budget", "1", "--seed", "5", .. Tiny]);
        Assert.True(repeat == 0, repeatError);
        string Settings(JsonElement t) =>
            $"{t.GetProperty("lr").GetDouble()} {t.GetProperty("weight_decay").GetDouble()} {t.GetProperty("dropout").GetDouble()} {t.GetProperty("input_dropout").GetDouble()}";
        var repeated = JsonDocument.Parse(File.ReadAllText(Path.Combine(_directory, "again", "tune.json"))).RootElement.GetProperty("trials").EnumerateArray();
        Assert.Equal(trials.Select(Settings), repeated.Select(Settings));
    }

    [Fact]
    public async Task A_rung_s_trials_train_at_once_on_different_workers_and_score_as_in_turn()
    {
        string[] search = ["tune", "--data", _data, "--trials", "3", "--budget", "1", "--seed", "5", .. Tiny[..^2]];
        var (code, _, error) = await CommandRun.Run([.. search, "--out", Path.Combine(_directory, "in-turn"), "--workers", "1"]);
        Assert.True(code == 0, error);
        (code, _, error) = await CommandRun.Run([.. search, "--out", Path.Combine(_directory, "at-once"), "--workers", "3"]);
        Assert.True(code == 0, error);
        JsonElement[] Trials(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(_directory, name, "tune.json"))).RootElement.GetProperty("trials").EnumerateArray().ToArray();
        Assert.Equal(Trials("in-turn").Select(t => t.GetProperty("valid_score").GetDouble()), Trials("at-once").Select(t => t.GetProperty("valid_score").GetDouble()));
        var workers = Trials("at-once").Select(t => JsonDocument.Parse(File.ReadAllText(Path.Combine(_directory, "at-once", t.GetProperty("directory").GetString()!, "metrics.json")))
            .RootElement.GetProperty("workers").EnumerateArray().Single().GetProperty("id").GetString()).ToArray();
        Assert.Equal(["local-0", "local-1", "local-2"], workers.Order()); // one worker each, the three at once
    }

    [Theory]
    [InlineData(new[] { "--trials", "0" }, "--trials")]
    [InlineData(new[] { "--budget", "0" }, "--budget")]
    [InlineData(new[] { "--epochs", "3" }, "--epochs")]
    [InlineData(new[] { "--resume", "auto" }, "--resume")]
    public async Task Impossible_searches_are_refused_naming_the_option(string[] args, string option)
    {
        var output = Path.Combine(_directory, "refused");
        var (code, _, error) = await CommandRun.Run(["tune", "--data", _data, "--out", output, .. args, .. Tiny]);
        Assert.Equal(2, code);
        Assert.Contains(option, error);
        Assert.False(Directory.Exists(Path.Combine(output, "trial-0")));
    }
}
