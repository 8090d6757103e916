using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Output;
using MtnnCluster.Data;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Data;
using MtnnCluster.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// Bad files and bad configuration given to the real `mtnn` executable: exit code 2 and one message that names the
/// file, line and column (or the option), and nothing written.
/// </summary>
public sealed class BadInputCommandTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(1);
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<(int Code, string Output)> Mtnn(params string[] args) => ProcessGroup.RunToExit(output, Limit, args);

    private static string[] Small => ["--epochs", "1", "--layers", "8", "--bits", "64", "--batch-size", "32"];

    public static TheoryData<string, string, string> BadFiles => new()
    {
        { "ragged.csv", "smiles,a,b\nCCO,1,0\nCC,1\n", "ragged.csv, line 3: expected 3 fields, found 2" },
        { "nan.csv", "smiles,a\nCCO,1\nCC,NaN\n", "nan.csv, line 3, column 'a': label 'NaN' is not a finite number" },
        { "word.csv", "smiles,a\nCCO,1\nCC,yes\n", "word.csv, line 3, column 'a': label 'yes' is not a number" },
        { "empty.csv", "", "empty.csv, line 1: the file is empty" },
        { "nosmiles.csv", "mol,a\nCCO,1\n", "nosmiles.csv, line 1, column 'smiles': there is no SMILES column 'smiles'" },
        { "dup.csv", "smiles,a,a\nCCO,1,0\n", "dup.csv, line 1, column 'a': the column name appears twice" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_bad_data_file_exits_2_naming_file_line_and_column(string name, string csv, string expected)
    {
        var path = _dir.WriteText(name, csv);
        var outDirectory = Path.Combine(_dir.Root, "out-" + name);
        var (code, text) = await Mtnn(["train", "--data", path, "--out", outDirectory, .. Small]);
        Assert.Equal(2, code);
        Assert.Contains($"error: {_dir.Root}/{expected}", text);
        Assert.False(Path.Exists(Path.Combine(outDirectory, "metrics.json")));
    }

    [Fact]
    public async Task A_truncated_gzip_exits_2_naming_the_file_and_line()
    {
        var full = ScratchDirectory.Gzip(string.Concat(File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(2000).Select(l => l + "\n")));
        var path = _dir.WriteBytes("cut.csv.gz", full[..(full.Length / 2)]);
        var (code, text) = await Mtnn(["train", "--data", path, "--out", Path.Combine(_dir.Root, "out-gz"), .. Small]);
        Assert.Equal(2, code);
        Assert.Matches($@"error: {path}, line \d+: the gzip file is truncated or corrupt", text);
    }

    [Fact]
    public async Task Unknown_tasks_exit_2_listing_the_columns()
    {
        var path = _dir.WriteText("t.csv", "smiles,a,b\nCCO,1,0\n");
        var (code, text) = await Mtnn(["train", "--data", path, "--out", Path.Combine(_dir.Root, "out-t"), "--tasks", "a,zz", .. Small]);
        Assert.Equal(2, code);
        Assert.Contains($"error: {path}, line 1, column 'zz': no such task column: 'zz'; the available columns are: 'a', 'b'", text);
    }

    [Theory]
    [InlineData("--seed", "-1", "--seed must be ≥ 0")]
    [InlineData("--layers", "60000,60000", "--layers 60000,60000 with --bits 2048 and 83 descriptors: the trunk would take 14221 MiB")]
    [InlineData("--lr", "Infinity", "--lr must be a positive number")]
    [InlineData("--tasks", ",", "--tasks: the list names no task")]
    public async Task Impossible_configuration_exits_2_naming_the_option(string option, string value, string expected)
    {
        var (code, text) = await Mtnn(["train", "--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(_dir.Root, "out-c"), option, value]);
        Assert.Equal(2, code);
        Assert.Contains($"error: {expected}", text);
    }

    [Fact]
    public async Task A_synthetic_dataset_trains_from_the_command_line_and_a_malformed_descriptor_is_refused()
    {
        var outDirectory = Path.Combine(_dir.Root, "out-synthetic");
        var (code, text) = await Mtnn(["train", "--data", "synthetic:1500,300,0.02,5", "--split", "random", "--out", outDirectory, "--epochs", "1", "--layers", "8", "--bits", "128"]);
        Assert.True(code == 0, text);
        Assert.Contains("synthetic:1500,300,0.02,5: 1500 rows", text);
        using var metrics = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        Assert.Equal(300, metrics.RootElement.GetProperty("tasks").GetArrayLength());

        (code, text) = await Mtnn(["train", "--data", "synthetic:1500,300", "--split", "random", "--out", Path.Combine(_dir.Root, "out-s2")]);
        Assert.Equal(2, code);
        Assert.Contains("error: --data: 'synthetic:1500,300' is not ROWS,TASKS,DENSITY[,SEED]", text);

        // descriptors are on by default, off for synthetic rows, and refused where asked for on them
        (code, text) = await Mtnn(["train", "--data", "synthetic:1500,300,0.02,5", "--split", "random", "--out", Path.Combine(_dir.Root, "out-s3"), "--descriptors"]);
        Assert.Equal(2, code);
        Assert.Contains("--descriptors: a synthetic dataset has no molecules", text);
    }

    [Fact]
    public async Task An_out_directory_holding_another_run_is_refused_unless_overwrite_and_then_only_its_files_are_replaced()
    {
        var data = _dir.WriteText("small.csv", string.Concat(File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(301).Select(l => l + "\n")));
        var outDirectory = Directory.CreateDirectory(Path.Combine(_dir.Root, "taken")).FullName;
        File.WriteAllText(Path.Combine(outDirectory, "metrics.json"), """{ "run_id": "run-earlier" }""");
        File.WriteAllText(Path.Combine(outDirectory, "notes.txt"), "mine");
        string[] train = ["train", "--data", data, "--out", outDirectory, "--tasks", "NR-AR,SR-MMP", .. Small];

        var (code, text) = await Mtnn(train);
        Assert.Equal(2, code);
        Assert.Contains($"error: --out: {outDirectory} already holds run run-earlier (metrics.json)", text);
        Assert.Contains("run-earlier", File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));

        (code, _) = await Mtnn([.. train, "--overwrite"]);
        Assert.Equal(0, code);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        Assert.NotEqual("run-earlier", metrics.RootElement.GetProperty("run_id").GetString());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDirectory, "notes.txt"))); // not the run's file: left alone
    }

    [Fact]
    public async Task Predict_refuses_a_checkpoint_whose_weights_do_not_fit_its_model_naming_the_difference()
    {
        var spec = new RunSpec(new DatasetSpec(["/d.csv"], "smiles", null, null, null), new FeaturizerSpec(2, 64, false),
            new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1), new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 32, false),
            new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);
        var model = new CheckpointModel(Checkpoint.CurrentFormat, "run-x", spec, [new CheckpointTask("a", TaskKind.Classification, 0, 1)],
            128, new string('0', 64), 1, DateTimeOffset.UtcNow);
        static TensorData Zeros(string name, params int[] shape) => new(name, shape, new byte[shape.Aggregate(1, (n, d) => n * d) * 4]);
        var directory = Path.Combine(_dir.Root, "bad-checkpoint");
        new Checkpoint(model, [Zeros("trunk.0.weight", 128, 8), Zeros("trunk.0.bias", 8)], Zeros("heads.weight", 8, 1), Zeros("heads.bias", 1)).Write(directory);
        var molecules = _dir.WriteText("molecules.csv", "smiles\nCCO\n");

        var (code, text) = await Mtnn("predict", "--checkpoint", directory, "--data", molecules, "--out", Path.Combine(_dir.Root, "p.csv"));

        Assert.Equal(2, code);
        Assert.Contains($"error: {directory}: the checkpoint does not fit its own model.json: feature size: checkpoint 128, run 64 (featurizer bits)", text);
        Assert.False(File.Exists(Path.Combine(_dir.Root, "p.csv")));
    }
}

/// <summary>The --out rule and checkpoint compatibility, as plain functions.</summary>
public sealed class OutputAndCheckpointRulesTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string RunDirectory(string runId)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_dir.Root, runId)).FullName;
        Directory.CreateDirectory(Path.Combine(directory, "checkpoint"));
        File.WriteAllText(Path.Combine(directory, "checkpoint", "model.json"), $$"""{ "run_id": "{{runId}}" }""");
        return directory;
    }

    [Fact]
    public void An_empty_or_new_directory_is_free()
    {
        Assert.Equal(Path.Combine(_dir.Root, "new"), OutputDirectory.Claim(Path.Combine(_dir.Root, "new"), overwrite: false));
        Assert.Equal(_dir.Root, OutputDirectory.Claim(_dir.Root + "/./", overwrite: false).TrimEnd('/'));
    }

    [Fact]
    public void A_directory_holding_a_run_is_refused_except_to_overwrite_or_to_resume_that_same_run()
    {
        var taken = RunDirectory("run-a");
        Assert.Contains("run run-a (checkpoint)", Assert.Throws<ArgumentException>(() => OutputDirectory.Claim(taken, overwrite: false)).Message);
        Assert.Throws<ArgumentException>(() => OutputDirectory.Claim(taken, overwrite: false, resumeRunId: "run-b"));
        Assert.Equal(taken, OutputDirectory.Claim(taken, overwrite: false, resumeRunId: "run-a"));
        Assert.Equal(taken, OutputDirectory.Claim(taken, overwrite: true));
        Assert.True(File.Exists(Path.Combine(taken, "checkpoint", "model.json"))); // claiming never deletes
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    [InlineData("a\\b")]
    [InlineData("tab\there")]
    public void A_name_from_data_or_the_wire_cannot_leave_its_directory(string name) =>
        Assert.Throws<ArgumentException>(() => OutputDirectory.Child(_dir.Root, name));

    [Theory]
    [InlineData("run-20260101-abc123")]
    [InlineData("NR-AR")]
    [InlineData("..hidden")]
    public void A_plain_name_stays_directly_inside(string name) =>
        Assert.Equal(Path.Combine(_dir.Root, name), OutputDirectory.Child(_dir.Root, name));

    [Fact]
    public void A_file_is_not_an_output_directory() =>
        Assert.Contains("is a file", Assert.Throws<ArgumentException>(() => OutputDirectory.Claim(_dir.WriteText("f", "x"), overwrite: true)).Message);

    private static RunSpec Spec(int bits = 64, int[]? layers = null, SplitKind split = SplitKind.Random) => new(
        new DatasetSpec(["/d.csv"], "smiles", null, null, null), new FeaturizerSpec(2, bits, false), new SplitSpec(split, 0, 0.8, 0.1, 0.1),
        new ModelSpec(layers ?? [8], 0), new OptimizerSpec(1e-3, 0, 32, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

    [Fact]
    public void A_checkpoint_from_another_dataset_or_shape_is_described_field_by_field()
    {
        var model = new CheckpointModel(1, "run-a", Spec(), [new("a", TaskKind.Classification, 0, 1), new("b", TaskKind.Regression, 1, 2)],
            64, "aaaa", 1, DateTimeOffset.UtcNow);
        TaskInfo[] sameTasks = [new("a", TaskKind.Classification), new("b", TaskKind.Regression)];

        Assert.Empty(CheckpointCompatibility.Compare(model, Spec() with { Optimizer = new OptimizerSpec(0.1, 0, 8, true) }, "aaaa", 64, sameTasks));

        var differences = CheckpointCompatibility.Compare(model, Spec(bits: 128, layers: [16, 4], split: SplitKind.Scaffold), "bbbb", 128,
            [new("a", TaskKind.Classification), new("c", TaskKind.Regression)]).Select(d => d.ToString()).ToArray();
        Assert.Equal([
            "dataset fingerprint (SHA-256): checkpoint aaaa, run bbbb",
            "featurizer bits: checkpoint 64, run 128",
            "feature size: checkpoint 64, run 128",
            "layers: checkpoint [8], run [16,4]",
            "tasks: checkpoint a,b, run a,c",
            "split: checkpoint random seed 0 0.8/0.1/0.1, run scaffold seed 0 0.8/0.1/0.1",
        ], differences);

        Assert.Equal(["kind of task 'b': checkpoint Regression, run Classification"],
            CheckpointCompatibility.Compare(model, Spec(), "aaaa", 64, [new("a", TaskKind.Classification), new("b", TaskKind.Classification)]).Select(d => d.ToString()));

        // count fingerprints: the scale of the counts is part of what the checkpoint was trained on
        var counts = Spec() with { Featurizer = new FeaturizerSpec(2, 64, true, CountScale.Log) };
        var logModel = model with { Spec = counts };
        Assert.Empty(CheckpointCompatibility.Compare(logModel, counts, "aaaa", 64, sameTasks));
        Assert.Equal(["featurizer count scale: checkpoint Log, run Raw"],
            CheckpointCompatibility.Compare(logModel, counts with { Featurizer = counts.Featurizer with { CountScale = CountScale.Raw } }, "aaaa", 64, sameTasks)
                .Select(d => d.ToString()));
    }
}
