using MtnnCluster.Data;
using Xunit;

namespace MtnnCluster.Tests.Data;

public sealed class CsvLabelReaderErrorTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Missing_smiles_column_lists_the_columns_found()
    {
        var error = ReadFails("SMILES,a,b\nC,1,0\n", line: 1, column: "smiles");

        Assert.Contains("'SMILES', 'a', 'b'", error.Message);
    }

    [Fact]
    public void Unknown_tasks_are_named_with_the_available_columns()
    {
        var error = ReadFails("smiles,a,b\nC,1,0\n", line: 1, column: "zz", new CsvReadOptions(Tasks: ["a", "zz", "yy"]));

        Assert.Contains("'zz', 'yy'", error.Message);
        Assert.Contains("'a', 'b'", error.Message);
    }

    [Fact]
    public void Duplicate_column_names_are_rejected()
    {
        var error = ReadFails("smiles,a,b,a\nC,1,0,1\n", line: 1, column: "a");

        Assert.Contains("fields 2 and 4", error.Message);
    }

    [Fact]
    public void An_unnamed_task_column_is_rejected()
    {
        ReadFails("smiles,a,\nC,1,0\n", line: 1, column: null);
    }

    [Fact]
    public void Kind_override_for_an_unknown_task_is_rejected()
    {
        var overrides = new Dictionary<string, TaskKind> { ["nope"] = TaskKind.Regression };

        ReadFails("smiles,a\nC,1\n", line: 1, column: "nope", new CsvReadOptions(KindOverrides: overrides));
    }

    [Theory]
    [InlineData("smiles,a,b\nC,1,0\nCC,1\n", 3, "expected 3 fields, found 2")]
    [InlineData("smiles,a,b\nC,1,0\n\"C\nC\",1,0,1\n", 3, "expected 3 fields, found 4")]
    public void Ragged_rows_name_the_line_and_field_counts(string csv, int line, string detail)
    {
        var error = ReadFails(csv, line, column: null);

        Assert.Contains(detail, error.Message);
    }

    [Theory]
    [InlineData("", 1)]
    [InlineData("\r\n\n", 1)]
    [InlineData("smiles,a\n", 1)]
    [InlineData("smiles,a\n,1\n", 2)]
    public void Empty_files_and_header_only_files_are_rejected(string csv, int line)
    {
        ReadFails(csv, line, column: null);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1,5")]
    [InlineData("0x1")]
    public void Non_numeric_labels_name_line_column_and_value(string value)
    {
        var error = ReadFails($"smiles,a,b\nC,1,0\nCC,0,\"{value}\"\n", line: 3, column: "b");

        Assert.Contains($"'{value}'", error.Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("inf")]
    [InlineData("-Infinity")]
    [InlineData("1e40")]
    public void Non_finite_labels_are_rejected(string value)
    {
        ReadFails($"smiles,a\nC,1\nCC,0\nCCC,{value}\n", line: 4, column: "a");
    }

    [Fact]
    public void Classification_override_rejects_labels_other_than_zero_and_one()
    {
        var options = new CsvReadOptions(KindOverrides: new Dictionary<string, TaskKind> { ["a"] = TaskKind.Classification });

        var error = ReadFails("smiles,a\nC,1\nCC,0.5\n", line: 3, column: "a", options);

        Assert.Contains("'0.5'", error.Message);
    }

    [Fact]
    public void Unclosed_quote_names_the_line_it_opened_on()
    {
        ReadFails("smiles,a\nC,1\n\"CC,0\nCCC,1\n", line: 3, column: "smiles");
    }

    [Fact]
    public void Text_after_a_closing_quote_is_rejected()
    {
        ReadFails("smiles,a\nC,\"1\"x\n", line: 2, column: "a");
    }

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        var path = _dir.WriteBytes("bad.csv", [.. "smiles,a\nC,1\nC"u8, 0xC3, 0x28, .. ",0\n"u8]);

        AssertNames(Assert.Throws<DataFormatException>(() => CsvLabelReader.Read(path, new CsvReadOptions())), path, 3, "smiles");
    }

    [Fact]
    public void Tasks_repeating_a_name_or_naming_the_smiles_column_are_argument_errors()
    {
        var path = _dir.WriteText("t.csv", "smiles,a\nC,1\n");

        Assert.Throws<ArgumentException>(() => CsvLabelReader.Read(path, new CsvReadOptions(Tasks: ["a", "a"])));
        Assert.Throws<ArgumentException>(() => CsvLabelReader.Read(path, new CsvReadOptions(Tasks: ["smiles"])));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(-1)]
    [InlineData(-4)]
    [InlineData(-8)]
    [InlineData(5)]
    public void Truncated_gzip_names_the_file_and_the_last_line_read(double cut)
    {
        var full = ScratchDirectory.Gzip(Rows(5000));
        var length = cut switch { < 0 => full.Length + (int)cut, < 1 => (int)(full.Length * cut), _ => (int)cut };
        var path = _dir.WriteBytes("cut.csv.gz", full[..length]);

        var error = Assert.Throws<DataFormatException>(() => CsvLabelReader.Read(path, new CsvReadOptions()));

        Assert.Equal(path, error.Path);
        Assert.InRange(error.Line, 1, 5002);
        Assert.Contains(path, error.Message);
        Assert.Contains($"line {error.Line}", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Gzip_with_a_wrong_checksum_is_rejected()
    {
        var bytes = ScratchDirectory.Gzip(Rows(100));
        bytes[^8] ^= 0xFF;

        ReadGzipFails(bytes);
    }

    [Fact]
    public void Gzip_with_trailing_garbage_is_rejected()
    {
        ReadGzipFails([.. ScratchDirectory.Gzip(Rows(100)), 0, 0, 0]);
    }

    private void ReadGzipFails(byte[] bytes)
    {
        var path = _dir.WriteBytes("bad.csv.gz", bytes);
        var error = Assert.Throws<DataFormatException>(() => CsvLabelReader.Read(path, new CsvReadOptions()));
        Assert.Equal(path, error.Path);
        Assert.IsType<InvalidDataException>(error.InnerException);
    }

    private DataFormatException ReadFails(string csv, int line, string? column, CsvReadOptions? options = null)
    {
        var path = _dir.WriteText("bad.csv", csv);
        var error = Assert.Throws<DataFormatException>(() => CsvLabelReader.Read(path, options ?? new CsvReadOptions()));
        AssertNames(error, path, line, column);
        return error;
    }

    /// <summary>The exception locates the problem, and its message says where too.</summary>
    private static void AssertNames(DataFormatException error, string path, int line, string? column)
    {
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
        Assert.StartsWith(column is null ? $"{path}, line {line}:" : $"{path}, line {line}, column '{column}':", error.Message);
    }

    private static string Rows(int count) =>
        "smiles,a,b\n" + string.Concat(Enumerable.Range(0, count).Select(i => $"C{i % 10}CO,{i % 2},{i % 3 % 2}\n"));
}
