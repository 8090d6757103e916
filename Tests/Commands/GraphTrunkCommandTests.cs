using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Model;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// <c>train --trunk graph</c> as a user runs it, and everything downstream of its checkpoint: predict, add-tasks,
/// featurize --graph; options of one trunk refused on the other.
/// </summary>
[Collection("console")]
public sealed class GraphTrunkCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-graph-{Guid.NewGuid():N}");

    public GraphTrunkCommandTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var root = new RootCommand { TrainCommand.Create(), PredictCommand.Create(), AddTasksCommand.Create(), FeaturizeCommand.Create() };
        var error = new StringWriter();
        var original = Console.Error;
        Console.SetError(error);
        try { return (await root.Parse(args).InvokeAsync(), error.ToString()); }
        finally { Console.SetError(original); }
    }

    private string SmallTox21()
    {
        var path = Path.Combine(_directory, "tox21-small.csv");
        File.WriteAllLines(path, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(301));
        return path;
    }

    private static readonly string[] Small = ["--trunk", "graph", "--epochs", "2", "--hidden-size", "32", "--layers", "24", "--batch-size", "64", "--lr", "3e-3", "--workers", "1"];

    [Fact]
    public async Task A_graph_run_writes_a_checkpoint_that_predict_and_add_tasks_use()
    {
        var data = SmallTox21();
        var run = Path.Combine(_directory, "run");
        var (code, error) = await Run(["train", "--data", data, "--out", run, "--molecule-features", "descriptors", .. Small]);
        Assert.True(code == 0, error);
        var checkpoint = Checkpoint.Read(Path.Combine(run, "checkpoint"));
        Assert.Equal(TrunkKind.Graph, checkpoint.Model.Spec.Model.Trunk);
        Assert.Equal(MtnnCluster.Chem.GraphFeatures.Version, checkpoint.Model.Spec.Featurizer.GraphFeatures);
        Assert.False(checkpoint.Model.Spec.Featurizer.Fingerprint);
        Assert.True(checkpoint.Model.Spec.Featurizer.Descriptors);
        Assert.Empty(CheckpointCompatibility.CompareWeights(checkpoint));
        using (var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "metrics.json"))))
            Assert.InRange(metrics.RootElement.GetProperty("mean_test_roc_auc").GetDouble(), 0.3, 1.0);

        // predict: one probability per task for each valid molecule, the invalid one left empty
        var molecules = Path.Combine(_directory, "molecules.csv");
        File.WriteAllLines(molecules, ["smiles", "CCO", "c1ccccc1C(=O)O", "[Na+].[Cl-]", "C1CC", "C"]);
        var predictions = Path.Combine(_directory, "predictions.csv");
        (code, error) = await Run("predict", "--checkpoint", Path.Combine(run, "checkpoint"), "--data", molecules, "--out", predictions);
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(predictions);
        Assert.Equal(6, lines.Length);
        foreach (var line in lines.Skip(1).Where(l => !l.StartsWith("C1CC,", StringComparison.Ordinal)))
        {
            var values = line.Split(',').Skip(2).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(12, values.Length);
            Assert.All(values, v => Assert.InRange(v, 0, 1));
        }

        // add-tasks: new heads on the frozen graph trunk
        var added = Path.Combine(_directory, "added");
        (code, error) = await Run("add-tasks", "--checkpoint", Path.Combine(run, "checkpoint"), "--data", AddTasksFiles.NewTasks(_directory), "--out", added);
        Assert.True(code == 0, error);
        var extended = Checkpoint.Read(Path.Combine(added, "checkpoint"));
        Assert.Equal(14, extended.Model.Tasks.Length);
        Assert.Equal(checkpoint.Trunk.Select(t => t.Bytes), extended.Trunk.Select(t => t.Bytes));
    }

    [Theory]
    [InlineData(new[] { "--depth", "4" }, "--depth")]
    [InlineData(new[] { "--molecule-features", "descriptors" }, "--molecule-features")]
    [InlineData(new[] { "--trunk", "graph", "--descriptors", "false" }, "--descriptors")]
    [InlineData(new[] { "--trunk", "graph", "--bits", "1024" }, "--bits")]
    [InlineData(new[] { "--trunk", "graph", "--input-dropout", "0.1" }, "--input-dropout")]
    [InlineData(new[] { "--trunk", "graph", "--depth", "0" }, "--depth")]
    [InlineData(new[] { "--trunk", "graph", "--readout", "max" }, "--readout")]
    [InlineData(new[] { "--trunk", "graph", "--molecule-features", "morgan" }, "--molecule-features")]
    [InlineData(new[] { "--trunk", "graph", "--precision", "bf16" }, "--precision bf16")]
    [InlineData(new[] { "--trunk", "transformer" }, "--trunk")]
    public async Task Options_of_the_other_trunk_are_refused_naming_them(string[] options, string named)
    {
        var (code, error) = await Run(["train", "--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(_directory, "refused"), .. options]);
        Assert.Equal(2, code);
        Assert.Contains(named, error);
    }

    [Fact]
    public async Task Featurize_graph_writes_each_molecule_s_graph_as_the_trunk_reads_it()
    {
        var csv = Path.Combine(_directory, "in.csv");
        File.WriteAllLines(csv, ["smiles,y", "CCO,1", "C1CC,0", "[Na+].[Cl-],1"]);
        var output = Path.Combine(_directory, "graphs.jsonl");
        var (code, error) = await Run("featurize", "--data", csv, "--graph", "--out", output);
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Equal(72, lines[0].GetProperty("atom_features").GetArrayLength());
        Assert.Equal(14, lines[0].GetProperty("bond_features").GetArrayLength());
        var ethanol = lines[1];
        Assert.True(ethanol.GetProperty("valid").GetBoolean());
        Assert.Equal(3, ethanol.GetProperty("atoms").GetArrayLength());
        Assert.Equal(2, ethanol.GetProperty("bonds").GetArrayLength());
        Assert.Equal(0.12011, ethanol.GetProperty("mass")[0].GetDouble(), 3); // carbon, 0.01 × mass
        Assert.False(lines[2].GetProperty("valid").GetBoolean());
        Assert.Equal(0, lines[3].GetProperty("bonds").GetArrayLength()); // a salt: two ions, no bond
    }
}
