using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Commands;

/// <summary><c>add-tasks</c> then <c>predict --tasks</c>, on a small long-format file the test writes.</summary>
[Collection("console")]
public sealed class AddTasksCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-add-{Guid.NewGuid():N}");

    public AddTasksCommandTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var root = new RootCommand { PredictCommand.Create(), AddTasksCommand.Create() };
        var error = new StringWriter();
        var original = Console.Error;
        Console.SetError(error);
        try { return (await root.Parse(args).InvokeAsync(), error.ToString()); }
        finally { Console.SetError(original); }
    }

    private string TrainedCheckpoint() => AddTasksFiles.TrainedCheckpoint(_directory);

    private string NewTasks(bool singleClass = false) => AddTasksFiles.NewTasks(_directory, singleClass);

    private static string[][] ReadCsv(string path) => File.ReadAllLines(path).Select(l => l.Split(',')).ToArray();

    [Fact]
    public async Task Add_tasks_refuses_an_out_another_run_holds()
    {
        var outDirectory = Directory.CreateDirectory(Path.Combine(_directory, "held")).FullName;
        using var held = MtnnCluster.Cli.Output.RunLock.Acquire(outDirectory, "mtnn train", _ => { }); // a live run (this process)
        var (code, error) = await Run("add-tasks", "--checkpoint", TrainedCheckpoint(), "--data", NewTasks(), "--out", outDirectory);
        Assert.Equal(2, code); // before: it wrote its checkpoint beside the running one's files
        Assert.Contains($"--out: {outDirectory} is in use by another run (mtnn train, pid {Environment.ProcessId}", error);
        Assert.False(Directory.Exists(Path.Combine(outDirectory, "checkpoint")));
    }

    [Fact]
    public async Task Two_in_process_workers_fit_the_heads_one_fits()
    {
        var trained = TrainedCheckpoint();
        var data = NewTasks();
        var (one, two) = (Path.Combine(_directory, "one"), Path.Combine(_directory, "two"));
        var (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", data, "--out", one);
        Assert.True(code == 0, error);
        (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", data, "--out", two, "--workers", "2");
        Assert.True(code == 0, error);
        Assert.Contains("2 new task(s) shared out over 2 worker(s): local-0 1, local-1 1", error);
        AddTasksFiles.AssertSameHeads(Path.Combine(one, "checkpoint"), Path.Combine(two, "checkpoint"));
        using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(two, "metrics.json")));
        Assert.Equal(2, metrics.RootElement.GetProperty("shares").GetInt32());
    }

    [Fact]
    public async Task New_tasks_are_added_beside_the_old_ones_and_predict_writes_only_the_tasks_asked_for()
    {
        var trained = TrainedCheckpoint();
        var data = NewTasks();
        var output = Path.Combine(_directory, "added");
        var (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", data, "--out", output);
        Assert.True(code == 0, error);

        var added = Checkpoint.Read(Path.Combine(output, "checkpoint"));
        Assert.Equal(["old", "oxygen", "ring"], added.Model.Tasks.Select(t => t.Name));
        var before = Checkpoint.Read(trained);
        Assert.Equal(before.Trunk.Select(t => t.Bytes), added.Trunk.Select(t => t.Bytes));
        using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "metrics.json")));
        Assert.Equal(2, metrics.RootElement.GetProperty("tasks_added").GetInt32());
        Assert.All(metrics.RootElement.GetProperty("tasks").EnumerateArray(), t => Assert.Contains(t.GetProperty("l2").GetDouble(), HeadFitter.L2Grid));

        var predictions = Path.Combine(_directory, "oxygen.csv");
        (code, error) = await Run("predict", "--checkpoint", Path.Combine(output, "checkpoint"), "--data", data, "--out", predictions, "--tasks", "oxygen");
        Assert.True(code == 0, error);
        var rows = ReadCsv(predictions);
        Assert.Equal(["smiles", "error", "oxygen"], rows[0]); // a long file: one row per molecule, no input columns to keep
        Assert.Equal(34, rows.Length); // 33 molecules, once each (one labelled for both tasks), and the header
        var labelled = File.ReadAllLines(data).Skip(1).Select(l => l.Split(',')).Where(l => l[1] == "oxygen").ToDictionary(l => l[0], l => l[2] == "1");
        var scored = rows.Skip(1).Where(r => labelled.ContainsKey(r[0])).Select(r => (Positive: labelled[r[0]], P: double.Parse(r[2], CultureInfo.InvariantCulture))).ToArray();
        Assert.All(scored, s => Assert.InRange(s.P, 0, 1));
        // fitted on these labels: the positives score above the negatives on average
        Assert.True(scored.Where(s => s.Positive).Average(s => s.P) > scored.Where(s => !s.Positive).Average(s => s.P));

        // the old task's predictions are the original checkpoint's
        var oldFromAdded = Path.Combine(_directory, "old-added.csv");
        var oldFromTrained = Path.Combine(_directory, "old-trained.csv");
        Assert.Equal(0, (await Run("predict", "--checkpoint", Path.Combine(output, "checkpoint"), "--data", data, "--out", oldFromAdded, "--tasks", "old")).Code);
        Assert.Equal(0, (await Run("predict", "--checkpoint", trained, "--data", data, "--out", oldFromTrained)).Code);
        Assert.Equal(File.ReadAllLines(oldFromTrained), File.ReadAllLines(oldFromAdded));
    }

    [Fact]
    public async Task Unknown_task_names_single_class_tasks_and_clashing_names_are_refused_naming_them()
    {
        var trained = TrainedCheckpoint();
        var (code, error) = await Run("predict", "--checkpoint", trained, "--data", NewTasks(), "--out", Path.Combine(_directory, "p.csv"), "--tasks", "old,nope,other");
        Assert.Equal(2, code);
        Assert.Contains("'nope', 'other'", error);

        (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", NewTasks(singleClass: true), "--out", Path.Combine(_directory, "one-class"));
        Assert.Equal(2, code);
        Assert.Contains("'oxygen'", error);
        Assert.Contains("each class", error);

        var clash = Path.Combine(_directory, "clash.csv");
        File.WriteAllLines(clash, ["smiles,task,label", "CO,old,1", "CC,old,0"]);
        (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", clash, "--out", Path.Combine(_directory, "clash"));
        Assert.Equal(2, code);
        Assert.Contains("already has task 'old'", error);

        (code, error) = await Run("add-tasks", "--checkpoint", trained, "--data", NewTasks(), "--out", Path.Combine(_directory, "both"), "--bind", "127.0.0.1:1", "--workers", "2");
        Assert.Equal(2, code);
        Assert.Contains("`mtnn worker` processes (--min-workers)", error);
    }
}

/// <summary>The files of the add-tasks tests: a trained checkpoint and a small long file of new tasks.</summary>
internal static class AddTasksFiles
{
    /// <summary>A checkpoint of one task, "old", with a seeded trunk 256 → 32 → 8 (what train writes, without training).</summary>
    public static string TrainedCheckpoint(string directory)
    {
        var spec = new RunSpec(new DatasetSpec(["pretraining.csv"], "smiles", null, null, null), new FeaturizerSpec(2, 256, false),
            new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1), new ModelSpec([32, 8], 0.1), new OptimizerSpec(1e-3, 1e-4, 32, false),
            new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 5);
        using var trunk = new FingerprintTrunk(256, [32, 8], 5, CPU);
        using var heads = new HeadBlock(8, [0], 5, CPU);
        var (weight, bias) = heads.Export();
        var model = new CheckpointModel(Checkpoint.CurrentFormat, "run-1", spec, [new CheckpointTask("old", TaskKind.Classification, 0, 1)],
            256, "none", 1, DateTimeOffset.UnixEpoch);
        var path = Path.Combine(directory, "trained", "checkpoint");
        new Checkpoint(model, trunk.Export(), weight, bias).Write(path);
        return path;
    }

    /// <summary>
    /// Two new tasks in the long format, 16 labelled molecules each: "oxygen" is 1 for molecules with an O, "ring"
    /// for rings; some molecules are labelled for both tasks.
    /// </summary>
    public static string NewTasks(string directory, bool singleClass = false)
    {
        var lines = new List<string> { "smiles,task,label" };
        for (var n = 1; n <= 8; n++)
        {
            var chain = new string('C', n);
            lines.Add($"{chain}O,oxygen,1");
            lines.Add($"{chain},oxygen,{(singleClass ? 1 : 0)}");
            lines.Add($"C1CCCCC1{chain},ring,1");
            lines.Add($"{chain}N,ring,0");
        }
        lines.Add("C1CCCCC1O,oxygen,1"); // a molecule of both tasks
        lines.Add("C1CCCCC1O,ring,1");
        var path = Path.Combine(directory, "new.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>The two checkpoints have the same tasks, trunk and heads (up to float summation order).</summary>
    public static void AssertSameHeads(string expected, string actual) => AssertSameHeads(Checkpoint.Read(expected), Checkpoint.Read(actual));

    public static void AssertSameHeads(Checkpoint a, Checkpoint b)
    {
        Assert.Equal(a.Model.Tasks, b.Model.Tasks);
        Assert.Equal(a.Trunk.Select(t => t.Bytes), b.Trunk.Select(t => t.Bytes));
        Assert.Equal(a.HeadWeight.Shape, b.HeadWeight.Shape);
        foreach (var (x, y) in new[] { (a.HeadWeight, b.HeadWeight), (a.HeadBias, b.HeadBias) })
        {
            var (p, q) = (System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(x.Bytes).ToArray(), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(y.Bytes).ToArray());
            for (var i = 0; i < p.Length; i++) Assert.True(Math.Abs(p[i] - q[i]) <= 1e-5f, $"{x.Name}[{i}]: {p[i]} and {q[i]}");
        }
    }

}
