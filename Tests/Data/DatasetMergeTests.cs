using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Data;

/// <summary>Several <c>--data</c> files in one run: molecules matched by <see cref="Chem.MoleculeKey"/>, tasks side by side.</summary>
public sealed class DatasetMergeTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static RunSpec Spec(string[] paths, string[]? evaluated = null, LabelConflicts conflicts = LabelConflicts.Error) => new(
        new DatasetSpec(paths, "smiles", null, null, null, LabelConflicts: conflicts, EvalDatasets: evaluated), new FeaturizerSpec(2, 64, false),
        new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1), new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 8, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

    private static float Label(PreparedDataset data, int row, string task) => data.Labels.Label(row, Array.FindIndex(data.Tasks, t => t.Name == task));

    [Fact]
    public void The_same_molecule_written_two_ways_in_two_files_is_one_row_with_both_labels()
    {
        var a = _dir.WriteText("a.csv", "smiles,x\nOc1ccccc1,1\nCCO,0\n");
        var b = _dir.WriteText("b.csv.gz", ""); // a long file, gzip, beside a wide one
        File.WriteAllBytes(b, ScratchDirectory.Gzip("smiles,task,label\nC1=CC=CC=C1O,y,0\nCCN,y,1\nN(C)C,y,1\n"));

        var data = PreparedDataset.Prepare(Spec([a, b]));

        Assert.Equal(["Oc1ccccc1", "CCO", "CCN", "N(C)C"], data.Smiles); // phenol Kekulé and from its other end is phenol
        Assert.Equal(["x", "y"], data.Tasks.Select(t => t.Name));
        Assert.Equal((1f, 0f), (Label(data, 0, "x"), Label(data, 0, "y")));
        // in one dataset only: the other's tasks stay missing, never 0
        Assert.True(float.IsNaN(Label(data, 1, "y")));
        Assert.True(float.IsNaN(Label(data, 2, "x")));
        Assert.Equal([new[] { 0 }, new[] { 1 }], data.Datasets.Select(d => d.Tasks));
        Assert.Equal(["a", "b"], data.Datasets.Select(d => d.Name));
        Assert.NotEqual(PreparedDataset.FileFingerprint(a), data.Fingerprint);
    }

    [Fact]
    public void Clashing_task_names_are_prefixed_by_their_dataset_and_the_others_are_kept()
    {
        var a = _dir.WriteText("tox.csv", "smiles,t,x\nCCO,1,0\nCCN,0,1\n");
        var b = _dir.WriteText("cast.csv", "smiles,t,y\nOCC,0,1\nCCCC,1,0\n");

        var data = PreparedDataset.Prepare(Spec([a, b]));

        Assert.Equal(["tox/t", "x", "cast/t", "y"], data.Tasks.Select(t => t.Name));
        Assert.Equal(3, data.RowCount); // OCC is CCO
        Assert.Equal((1f, 0f), (Label(data, 0, "tox/t"), Label(data, 0, "cast/t")));
    }

    [Fact]
    public void One_file_is_read_as_it_always_was()
    {
        var rows = Enumerable.Range(0, 60).Select(i => $"{new string('C', 1 + i % 9)}{(i % 4 == 0 ? "N" : "O")},{i % 2},{(i % 3 == 0 ? "" : (i % 5 % 2).ToString())}");
        var path = _dir.WriteText("one.csv", "smiles,a,b\n" + string.Join('\n', rows) + "\nnot a smiles,1,1\n");

        var data = PreparedDataset.Prepare(Spec([path]));
        var table = LabelFile.Read(path, new CsvReadOptions());

        Assert.Equal(60, data.RowCount); // repeated molecules stay rows of their own, the invalid one is skipped
        Assert.Equal(table.Smiles[..60], data.Smiles);
        for (var row = 0; row < 60; row++)
        {
            Assert.Equal(table.Labels.TasksOf(row).ToArray(), data.Labels.TasksOf(row).ToArray());
            Assert.Equal(table.Labels.ValuesOf(row).ToArray(), data.Labels.ValuesOf(row).ToArray());
        }
        var alone = DatasetSplitter.Random(60, new SplitFractions(), 0);
        Assert.Equal(alone.Train, data.Split.Train);
        Assert.Equal(alone.Valid, data.Split.Valid);
        Assert.Equal(alone.Test, data.Split.Test);
        Assert.Equal(PreparedDataset.FileFingerprint(path), data.Fingerprint);
        Assert.Equal(["a", "b"], data.Tasks.Select(t => t.Name));
    }

    [Fact]
    public void The_first_file_keeps_its_own_random_split_whatever_is_trained_beside_it()
    {
        var a = _dir.WriteText("a.csv", "smiles,x\n" + string.Concat(Enumerable.Range(1, 50).Select(i => $"{new string('C', i)}O,{i % 2}\n")));
        var b = _dir.WriteText("b.csv", "smiles,y\n" + string.Concat(Enumerable.Range(20, 50).Select(i => $"O{new string('C', i)},{i % 2}\n")));

        var (alone, together) = (PreparedDataset.Prepare(Spec([a])), PreparedDataset.Prepare(Spec([a, b])));

        Assert.Equal(69, together.RowCount); // b's first 31 molecules are a's last 31
        Assert.Equal(alone.Smiles, together.Smiles[..50]);
        Assert.All(Enumerable.Range(0, 50), row => Assert.Equal(alone.Split.Of(row), together.Split.Of(row)));
    }

    [Fact]
    public void A_molecule_labelled_twice_for_a_task_follows_label_conflicts()
    {
        var a = _dir.WriteText("a.csv", "smiles,x\nCCO,1\n");
        var b = _dir.WriteText("b.csv", "smiles,y\nCCO,1\nOCC,0\nCCN,1\n"); // two spellings of ethanol, labelled 1 and 0

        var error = Assert.Throws<DataFormatException>(() => PreparedDataset.Prepare(Spec([a, b])));
        Assert.Contains($"{b}, line 3: this line and line 2 are one molecule", error.Message);
        Assert.Contains("task 'y'", error.Message);
        Assert.Contains("--label-conflicts drop", error.Message);

        var dropped = PreparedDataset.Prepare(Spec([a, b], conflicts: LabelConflicts.Drop));
        Assert.True(float.IsNaN(Label(dropped, 0, "y")));
        Assert.Equal(1f, Label(dropped, 0, "x"));
        Assert.Contains(dropped.Warnings, w => w.Contains("left out (--label-conflicts drop)"));
    }

    [Fact]
    public void Eval_datasets_name_the_tasks_that_count_and_an_unknown_one_is_refused_naming_the_option()
    {
        var a = _dir.WriteText("a.csv", "smiles,x\nCCO,1\nCCN,0\n");
        var b = _dir.WriteText("b.csv", "smiles,y\nCCO,1\nCCC,0\n");

        var data = PreparedDataset.Prepare(Spec([a, b], evaluated: ["b"]));
        Assert.False(data.IsEvaluated("x"));
        Assert.True(data.IsEvaluated("y"));
        Assert.True(PreparedDataset.Prepare(Spec([a, b])).IsEvaluated("x"));

        var error = Assert.Throws<ArgumentException>(() => Spec([a, b], evaluated: ["c"]).Validate());
        Assert.Contains("--eval-datasets", error.Message);
        Assert.Contains("'c'", error.Message);
        var twice = Assert.Throws<ArgumentException>(() => Spec([a, _dir.WriteText("a.csv.gz", "")]).Validate());
        Assert.Contains("are both dataset 'a'", twice.Message);
    }

    [Fact]
    public void A_run_spec_written_with_one_data_path_still_reads()
    {
        var spec = Spec(["/data/tox21.csv"]);
        var json = JsonSerializer.Serialize(spec, Checkpoint.Json);
        Assert.Contains("\"paths\"", json);
        Assert.DoesNotContain("\"path\"", json);

        var legacy = json.Replace("\"paths\": [\n      \"/data/tox21.csv\"\n    ]", "\"path\": \"/data/tox21.csv\"");
        Assert.Contains("\"path\": \"/data/tox21.csv\"", legacy);
        Assert.Equal(["/data/tox21.csv"], JsonSerializer.Deserialize<RunSpec>(legacy, Checkpoint.Json)!.Dataset.Paths);
    }
}
