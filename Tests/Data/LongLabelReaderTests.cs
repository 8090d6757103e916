using MtnnCluster.Data;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Data;

/// <summary>Long-format label files (one labelled cell a line) read straight into labelled cells.</summary>
public sealed class LongLabelReaderTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Small = "smiles,task,label\nCCO,t1,1\nCCN,t1,0\nCCO,t2,0\nc1ccccc1,t2,1\nCCN,t3,2.5\n";

    [Fact]
    public void Molecules_and_tasks_are_de_duplicated_in_order_of_first_appearance()
    {
        var table = LabelFile.Read(_dir.WriteText("long.csv", Small), new CsvReadOptions());

        Assert.Equal(LabelFileFormat.Long, table.Format);
        Assert.Equal(["CCO", "CCN", "c1ccccc1"], table.Smiles);
        Assert.Equal([2, 3, 5], table.LineNumbers);
        Assert.Equal(["t1", "t2", "t3"], table.Tasks.Select(t => t.Name));
        Assert.Equal([TaskKind.Classification, TaskKind.Classification, TaskKind.Regression], table.Tasks.Select(t => t.Kind));
        Assert.Equal(5, table.Labels.Count);
        Assert.Equal([0, 1], table.Labels.TasksOf(0).ToArray());
        Assert.Equal([1f, 0f], table.Labels.ValuesOf(0).ToArray());
        Assert.Equal([0, 2], table.Labels.TasksOf(1).ToArray());
        Assert.Equal([0f, 2.5f], table.Labels.ValuesOf(1).ToArray());
        Assert.True(float.IsNaN(table.Labels.Label(2, 0)));
    }

    [Fact]
    public void Long_and_wide_files_of_the_same_labels_prepare_the_same_dataset()
    {
        var wide = _dir.WriteText("wide.csv", "smiles,t1,t2,t3\nCCO,1,0,\nCCN,0,,2.5\nc1ccccc1,,1,\n");
        var longFile = _dir.WriteBytes("long.csv.gz", ScratchDirectory.Gzip(Small)); // gzip is read as it streams

        var (a, b) = (PreparedDataset.Prepare(Spec(wide)), PreparedDataset.Prepare(Spec(longFile)));

        Assert.Equal(a.Smiles, b.Smiles);
        Assert.Equal(a.Tasks, b.Tasks);
        Assert.Equal(a.Split.Train, b.Split.Train);
        for (var row = 0; row < a.RowCount; row++)
        {
            Assert.Equal(a.Labels.TasksOf(row).ToArray(), b.Labels.TasksOf(row).ToArray());
            Assert.Equal(a.Labels.ValuesOf(row).ToArray(), b.Labels.ValuesOf(row).ToArray());
            Assert.Equal(a.Features[row].Indices, b.Features[row].Indices);
        }
        Assert.NotEqual(a.Fingerprint, b.Fingerprint); // a hash of the file's bytes
        Assert.Equal(PreparedDataset.FileFingerprint(longFile), b.Fingerprint);
    }

    [Fact]
    public void The_same_label_twice_is_kept_once_and_counted()
    {
        var table = LabelFile.Read(_dir.WriteText("long.csv", Small + "CCO,t1,1\nCCO,t1,1.0\n"), new CsvReadOptions());

        Assert.Equal(2, table.RepeatedLabels);
        Assert.Equal(5, table.Labels.Count);
        Assert.Contains(table.Warnings, w => w.Contains("2 lines repeated"));
    }

    [Fact]
    public void A_different_label_for_the_same_molecule_and_task_names_both_lines()
    {
        var error = ReadFails(Small + "CC,t9,1\nCCO,t1,0\n", line: 8, column: null);

        Assert.Contains("line 2", error.Message);
        Assert.Contains("(1 there, 0 here)", error.Message);
        Assert.Contains("--label-conflicts drop", error.Message);
    }

    [Fact]
    public void Conflicting_labels_can_be_left_out_and_counted()
    {
        var path = _dir.WriteText("long.csv", Small + "CCO,t1,0\nCCN,t1,0\nCCO,t1,1\n");

        var table = LabelFile.Read(path, new CsvReadOptions(LabelConflicts: LabelConflicts.Drop));

        Assert.Equal((1, 1), (table.ConflictingLabels, table.RepeatedLabels));
        Assert.True(float.IsNaN(table.Labels.Label(0, 0))); // CCO × t1 is gone
        Assert.Equal(0f, table.Labels.Label(0, 1));
        Assert.Equal(0f, table.Labels.Label(1, 0)); // CCN × t1 repeated with its value: kept
        Assert.Equal(4, table.Labels.Count);
        Assert.Contains(table.Warnings, w => w.Contains("1 molecule-task cell was labelled with different values"));
    }

    [Fact]
    public void Named_columns_select_the_long_format_and_other_columns_are_reported_unread()
    {
        var path = _dir.WriteText("named.csv", "assay,mol,note,value\nA,CCO,x,1\nB,CCO,y,0\nA,CCN,z,0\n");

        var table = LabelFile.Read(path, new CsvReadOptions(SmilesColumn: "mol", TaskColumn: "assay", LabelColumn: "value"));

        Assert.Equal(["A", "B"], table.Tasks.Select(t => t.Name));
        Assert.Equal(["CCO", "CCN"], table.Smiles);
        Assert.Contains(table.Warnings, w => w.Contains("'note' not read"));
    }

    [Fact]
    public void Tasks_select_and_order_the_task_table_but_every_molecule_stays_a_row()
    {
        var table = LabelFile.Read(_dir.WriteText("long.csv", Small), new CsvReadOptions(Tasks: ["t2", "t1"]));

        Assert.Equal(["t2", "t1"], table.Tasks.Select(t => t.Name));
        Assert.Equal(3, table.RowCount);
        Assert.Equal([0, 1], table.Labels.TasksOf(0).ToArray());
        Assert.Equal([0f, 1f], table.Labels.ValuesOf(0).ToArray());
        Assert.Equal(4, table.Labels.Count);
    }

    [Fact]
    public void Smiles_only_reading_skips_the_labels()
    {
        var table = LabelFile.Read(_dir.WriteText("long.csv", Small + "CCC,t1,junk\n"), new CsvReadOptions(Tasks: []));

        Assert.Equal(["CCO", "CCN", "c1ccccc1", "CCC"], table.Smiles);
        Assert.Empty(table.Tasks);
    }

    [Fact]
    public void A_wide_file_with_a_task_column_but_no_label_column_stays_wide()
    {
        var table = LabelFile.Read(_dir.WriteText("wide.csv", "smiles,task,other\nC,1,0\n"), new CsvReadOptions());

        Assert.Equal(LabelFileFormat.Wide, table.Format);
        Assert.Equal(["task", "other"], table.Tasks.Select(t => t.Name));
    }

    // the errors: each names file, line and (where there is one) column

    [Fact]
    public void A_named_column_that_is_missing_is_refused_with_the_columns_found()
    {
        var error = ReadFails("smiles,task,label\nC,a,1\n", line: 1, column: "assay", new CsvReadOptions(TaskColumn: "assay"));

        Assert.Contains("'smiles', 'task', 'label'", error.Message);
    }

    [Fact]
    public void A_missing_smiles_column_is_refused()
    {
        ReadFails("mol,task,label\nC,a,1\n", line: 1, column: "smiles", new CsvReadOptions(TaskColumn: "task"));
    }

    [Fact]
    public void Duplicate_column_names_are_refused()
    {
        var error = ReadFails("smiles,task,label,task\nC,a,1,b\n", line: 1, column: "task");

        Assert.Contains("fields 2 and 4", error.Message);
    }

    [Theory]
    [InlineData("smiles,task,label\nC,a,1\nCC,a\n", 3, "expected 3 fields, found 2")]
    [InlineData("smiles,task,label\nC,a,1\nCC,a,1,0\n", 3, "expected 3 fields, found 4")]
    public void Ragged_lines_name_the_line(string csv, int line, string detail)
    {
        Assert.Contains(detail, ReadFails(csv, line, column: null).Message);
    }

    [Theory]
    [InlineData("abc", "is not a number")]
    [InlineData("1e40", "is not a finite number")]
    [InlineData("", "the label is empty")]
    public void Bad_labels_name_line_and_label_column(string value, string detail)
    {
        Assert.Contains(detail, ReadFails($"smiles,task,label\nC,a,1\nCC,a,{value}\n", line: 3, column: "label").Message);
    }

    [Fact]
    public void An_empty_task_name_names_line_and_task_column()
    {
        ReadFails("smiles,task,label\nC,a,1\nCC, ,0\n", line: 3, column: "task");
    }

    [Fact]
    public void Classification_override_refuses_other_labels()
    {
        var options = new CsvReadOptions(KindOverrides: new Dictionary<string, TaskKind> { ["a"] = TaskKind.Classification });

        Assert.Contains("'0.5'", ReadFails("smiles,task,label\nC,a,1\nCC,a,0.5\n", line: 3, column: "label", options).Message);
    }

    [Fact]
    public void Unknown_tasks_and_kind_overrides_are_refused()
    {
        ReadFails(Small, line: 1, column: "task", new CsvReadOptions(Tasks: ["t1", "zz"]));
        ReadFails(Small, line: 1, column: "nope", new CsvReadOptions(KindOverrides: new Dictionary<string, TaskKind> { ["nope"] = TaskKind.Regression }));
    }

    [Fact]
    public void A_header_without_lines_is_refused()
    {
        ReadFails("smiles,task,label\n", line: 1, column: null);
    }

    [Fact]
    public void A_truncated_gzip_names_the_file_and_line()
    {
        var rows = "smiles,task,label\n" + string.Concat(Enumerable.Range(0, 5000).Select(i => $"C{i % 10}CO,t{i % 7},{i % 2}\n"));
        var full = ScratchDirectory.Gzip(rows);
        var path = _dir.WriteBytes("cut.csv.gz", full[..(full.Length / 2)]);

        var error = Assert.Throws<DataFormatException>(() => LabelFile.Read(path, new CsvReadOptions()));

        Assert.Equal(path, error.Path);
        Assert.Contains("truncated", error.Message);
    }

    private static RunSpec Spec(string path) => new(
        new DatasetSpec([path], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 4, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

    private DataFormatException ReadFails(string csv, int line, string? column, CsvReadOptions? options = null)
    {
        var path = _dir.WriteText("bad.csv", csv);
        var error = Assert.Throws<DataFormatException>(() => LabelFile.Read(path, options ?? new CsvReadOptions()));
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
        Assert.StartsWith(column is null ? $"{path}, line {line}:" : $"{path}, line {line}, column '{column}':", error.Message);
        return error;
    }
}
