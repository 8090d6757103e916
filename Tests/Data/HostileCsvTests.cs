using System.IO.Compression;
using System.Text;
using MtnnCluster.Data;
using Xunit;

namespace MtnnCluster.Tests.Data;

/// <summary>Data files written to exhaust the reader: a line of a million commas, and a gzip bomb.</summary>
public sealed class HostileCsvTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_line_with_more_columns_than_the_cap_is_refused_naming_file_and_line()
    {
        var header = "smiles," + string.Join(',', Enumerable.Range(0, 10).Select(i => $"t{i}"));
        var path = _dir.WriteText("wide.csv", $"{header}\nCCO,{new string(',', CsvRecordReader.MaxColumns + 5)}\n");
        var error = Assert.Throws<DataFormatException>(() => LabelFile.Read(path, new CsvReadOptions("smiles", null)));
        Assert.Equal(2, error.Line);
        Assert.Contains("wide.csv", error.Message);
        Assert.Contains($"more than {CsvRecordReader.MaxColumns} columns", error.Message);
    }

    [Fact]
    public void A_gzip_bomb_is_refused_before_it_is_expanded()
    {
        // 1 GiB of one repeated line in about a megabyte: before, read to the end (hours of parsing, gigabytes of rows)
        var line = Encoding.ASCII.GetBytes("CCO,1\n");
        var block = new byte[line.Length << 16];
        for (var i = 0; i < block.Length; i += line.Length) line.CopyTo(block, i);
        var path = Path.Combine(_dir.Root, "bomb.csv.gz");
        using (var file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.SmallestSize))
        {
            gzip.Write("smiles,t\n"u8);
            for (long written = 0; written < 1L << 30; written += block.Length) gzip.Write(block);
        }
        Assert.True(new FileInfo(path).Length < (1L << 30) / VerifiedGzipStream.MaxRatio, "the test file is no bomb");
        var error = Assert.Throws<DataFormatException>(() => LabelFile.Read(path, new CsvReadOptions("smiles", null)));
        Assert.Contains("bomb.csv.gz", error.Message);
        Assert.Contains($"over {VerifiedGzipStream.MaxRatio}×: refused as a gzip bomb", error.Message);
        Assert.True(error.Line < 30_000_000, $"refused only at line {error.Line}");
    }

    [Fact]
    public void Ordinary_gzip_data_reads_whole()
    {
        var rows = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{new string('C', 1 + i % 9)}O,{i % 2}\n"));
        var path = Path.Combine(_dir.Root, "fine.csv.gz");
        File.WriteAllBytes(path, ScratchDirectory.Gzip("smiles,t\n" + rows));
        Assert.Equal(20_000, LabelFile.Read(path, new CsvReadOptions("smiles", null)).RowCount);
    }
}
