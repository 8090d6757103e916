using System.Text;
using MtnnCluster.Data;
using Xunit;

namespace MtnnCluster.Tests.Data;

public sealed class CsvLabelReaderTests : IDisposable
{
    private static readonly CsvReadOptions Defaults = new();
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_smiles_labels_and_line_numbers()
    {
        var table = CsvLabelReader.Read(_dir.WriteText("t.csv", "smiles,a,b\nC,0,1\nCC,,0\nCCC,1,\n"), Defaults);

        Assert.Equal(["C", "CC", "CCC"], table.Smiles);
        Assert.Equal([2, 3, 4], table.LineNumbers);
        Assert.Equal(["a", "b"], table.Tasks.Select(t => t.Name));
        Assert.Equal(3, table.RowCount);
        Assert.Equal(2, table.TaskCount);
        Assert.Equal([0f, 1f, float.NaN, 0f, 1f, float.NaN], table.Labels);
        Assert.Equal(1f, table.Label(2, 0));
        Assert.Equal([float.NaN, 0f], table.RowLabels(1).ToArray());
        Assert.Empty(table.Warnings);
    }

    [Fact]
    public void Empty_cells_are_missing_labels_never_zero()
    {
        var table = CsvLabelReader.Read(_dir.WriteText("t.csv", "smiles,a\nC,1\nCC,\nCCC,0\nO, \n"), Defaults);

        Assert.True(float.IsNaN(table.Label(1, 0)));
        Assert.True(float.IsNaN(table.Label(3, 0)));
        Assert.Equal(2, table.LabelledCount(0));
        Assert.Equal(1, table.PositiveCount(0));
    }

    [Fact]
    public void Quoted_fields_hold_commas_quotes_and_line_breaks()
    {
        const string csv = "smiles,\"active, really\",note\n"
            + "\"C(=O)O\",1,plain\n"
            + "\"C\"\"odd\"\"\",0,\"two\nlines, \"\"quoted\"\"\"\n"
            + "CC,1,\"\"\n";

        var table = CsvLabelReader.Read(
            _dir.WriteText("t.csv", csv), new CsvReadOptions(Tasks: ["active, really"]));

        Assert.Equal(["C(=O)O", "C\"odd\"", "CC"], table.Smiles);
        Assert.Equal([2, 3, 5], table.LineNumbers);
        Assert.Equal([1f, 0f, 1f], table.Labels);
    }

    [Fact]
    public void Crlf_and_lf_files_read_alike()
    {
        const string csv = "smiles,a,b\n\"C\nC\",1,0\nCC,0,\n\nCCC,,1\n";
        var lf = CsvLabelReader.Read(_dir.WriteText("lf.csv", csv), Defaults);
        var crlf = CsvLabelReader.Read(_dir.WriteText("crlf.csv", csv.Replace("\n", "\r\n")), Defaults);

        Assert.Equal([2, 4, 6], lf.LineNumbers);
        AssertSameTable(lf, crlf, smilesDiffer: true);
        Assert.Equal("C\r\nC", crlf.Smiles[0]);
    }

    [Fact]
    public void Byte_order_mark_is_ignored()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("smiles,a\nC,1\nCC,0\n")).ToArray();

        var table = CsvLabelReader.Read(_dir.WriteBytes("bom.csv", bytes), Defaults);

        Assert.Equal(["C", "CC"], table.Smiles);
        Assert.Equal("a", table.Tasks[0].Name);
    }

    [Fact]
    public void Gzip_reads_like_plain_text_whatever_the_file_name()
    {
        var csv = ManyRows(3000);
        var plain = CsvLabelReader.Read(_dir.WriteText("t.csv", csv), Defaults);
        var gzip = CsvLabelReader.Read(_dir.WriteBytes("t.csv.gz", ScratchDirectory.Gzip(csv)), Defaults);
        var unnamed = CsvLabelReader.Read(_dir.WriteBytes("compressed.csv", ScratchDirectory.Gzip(csv)), Defaults);

        Assert.Equal(3000, plain.RowCount);
        AssertSameTable(plain, gzip);
        AssertSameTable(plain, unnamed);
    }

    [Fact]
    public void Gzip_with_several_members_reads_them_all()
    {
        var first = ScratchDirectory.Gzip("smiles,a\nC,1\n");
        var second = ScratchDirectory.Gzip("CC,0\nCCC,1\n");

        var table = CsvLabelReader.Read(_dir.WriteBytes("cat.csv.gz", [.. first, .. second]), Defaults);

        Assert.Equal(["C", "CC", "CCC"], table.Smiles);
    }

    [Fact]
    public void Fields_longer_than_the_read_buffer_stay_whole()
    {
        var longSmiles = string.Concat(Enumerable.Repeat("C1CC1", 40_000));

        var table = CsvLabelReader.Read(
            _dir.WriteText("long.csv", $"smiles,a\n\"{longSmiles}\",1\nCC,0\r\n"), Defaults);

        Assert.Equal([longSmiles, "CC"], table.Smiles);
    }

    [Fact]
    public void Kinds_are_inferred_from_the_labels()
    {
        const string csv = "smiles,binary,decimal,ones,empty\nC,0,0.5,1.0,\nCC,1,1,0.0,\nCCC,,-2,1,\n";

        var table = CsvLabelReader.Read(_dir.WriteText("t.csv", csv), Defaults);

        Assert.Equal(
            [TaskKind.Classification, TaskKind.Regression, TaskKind.Classification, TaskKind.Classification],
            table.Tasks.Select(t => t.Kind));
        Assert.Equal(0, table.PositiveCount(1));
    }

    [Fact]
    public void Kind_overrides_win_over_inference()
    {
        var overrides = new Dictionary<string, TaskKind> { ["a"] = TaskKind.Regression, ["b"] = TaskKind.Classification };

        var table = CsvLabelReader.Read(
            _dir.WriteText("t.csv", "smiles,a,b\nC,0,1\nCC,1,0\n"), new CsvReadOptions(KindOverrides: overrides));

        Assert.Equal(new TaskInfo("a", TaskKind.Regression), table.Tasks[0]);
        Assert.Equal(new TaskInfo("b", TaskKind.Classification), table.Tasks[1]);
        Assert.Equal(0, table.PositiveCount(0));
    }

    [Fact]
    public void Task_subset_is_read_in_the_order_asked()
    {
        var table = CsvLabelReader.Read(
            _dir.WriteText("t.csv", "mol,a,b,c\nC,0,1,x\nCC,1,,y\n"),
            new CsvReadOptions(SmilesColumn: "mol", Tasks: ["b", "a"]));

        Assert.Equal(["b", "a"], table.Tasks.Select(t => t.Name));
        Assert.Equal([1f, 0f, float.NaN, 1f], table.Labels);
    }

    [Fact]
    public void Unscorable_tasks_and_empty_smiles_are_warned_about()
    {
        const string csv = "smiles,ok,none,ones,level\nC,0,,1,2.5\n,1,,1,1\nCC,1,,1,2.5\n";

        var table = CsvLabelReader.Read(_dir.WriteText("t.csv", csv), Defaults);

        Assert.Equal(["C", "CC"], table.Smiles);
        Assert.Equal([2, 4], table.LineNumbers);
        Assert.Equal(3, table.Warnings.Count);
        Assert.Contains(table.Warnings, w => w.Contains("line 3") && w.Contains("empty SMILES"));
        Assert.Contains(table.Warnings, w => w.Contains("'none'") && w.Contains("no labels"));
        Assert.Contains(table.Warnings, w => w.Contains("'ones'") && w.Contains("one class"));
    }

    [Fact]
    public void Blank_lines_are_skipped_and_spaces_around_labels_ignored()
    {
        var table = CsvLabelReader.Read(_dir.WriteText("t.csv", "\nsmiles,a\n\nC, 1 \n\n\nCC,0\n\n"), Defaults);

        Assert.Equal([4, 7], table.LineNumbers);
        Assert.Equal([1f, 0f], table.Labels);
    }

    [Fact]
    public void Unnamed_columns_are_fine_when_not_read()
    {
        var table = CsvLabelReader.Read(
            _dir.WriteText("t.csv", ",smiles,a\n0,C,1\n1,CC,0\n"), new CsvReadOptions(Tasks: ["a"]));

        Assert.Equal(["C", "CC"], table.Smiles);
    }

    private static string ManyRows(int count)
    {
        var csv = new StringBuilder("smiles,a,b,c\r\n");
        for (var i = 0; i < count; i++)
            csv.Append($"C{new string('C', i % 37)}O,{i % 2},{(i % 3 == 0 ? "" : "1")},{i * 0.25}\r\n");
        return csv.ToString();
    }

    private static void AssertSameTable(LabelTable expected, LabelTable actual, bool smilesDiffer = false)
    {
        if (!smilesDiffer)
            Assert.Equal(expected.Smiles, actual.Smiles);
        Assert.Equal(expected.LineNumbers, actual.LineNumbers);
        Assert.Equal(expected.Tasks, actual.Tasks);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(expected.Warnings.Count, actual.Warnings.Count);
    }
}
