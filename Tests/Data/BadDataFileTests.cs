using System.Text;
using MtnnCluster.Data;
using MtnnCluster.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Data;

/// <summary>
/// Bad and outsized data files beyond the CSV syntax (see <see cref="CsvLabelReaderErrorTests"/>): invalid SMILES
/// skipped and counted, a file far larger than what the reader may hold streamed in bounded memory, and a
/// record without end refused before it exhausts memory.
/// </summary>
public sealed class BadDataFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static RunSpec Spec(string path) => new(
        new DatasetSpec([path], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 4, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

    [Fact]
    public void Invalid_smiles_rows_are_skipped_counted_and_named()
    {
        var path = _dir.WriteText("mixed.csv", "smiles,a\nCCO,1\nC1CC,0\nc1ccccc1,0\nXyz,1\nCC(,0\nCCN,1\n");

        var data = PreparedDataset.Prepare(Spec(path));

        Assert.Equal(3, data.InvalidSmiles);
        Assert.Equal(["CCO", "c1ccccc1", "CCN"], data.Smiles);
        Assert.Equal([2, 4, 7], data.LineNumbers);
        Assert.Contains(data.Warnings, w => w.StartsWith($"{path}:3: invalid SMILES 'C1CC'"));
        Assert.Contains(data.Warnings, w => w.StartsWith($"{path}:5: invalid SMILES 'Xyz'"));
        Assert.Contains(data.Warnings, w => w.StartsWith($"{path}:6: invalid SMILES 'CC('"));
    }

    [Fact]
    public void A_file_without_one_valid_smiles_is_refused_naming_file_and_column()
    {
        var path = _dir.WriteText("none.csv", "smiles,a\nC1CC,1\nXyz,0\n");

        var error = Assert.Throws<InvalidDataException>(() => PreparedDataset.Prepare(Spec(path)));

        Assert.Contains(path, error.Message);
        Assert.Contains("'smiles'", error.Message);
    }

    [Fact]
    public void A_file_far_larger_than_the_table_is_streamed_in_bounded_memory()
    {
        // 16 wide columns of which 2 are read: 64 MB of text generated as it is read, never held anywhere
        const int rows = 24_000;
        using var source = new GeneratedCsv(columns: 16, rows);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        var table = CsvLabelReader.Read(source, "generated.csv", new CsvReadOptions(Tasks: ["t1", "t3"]));

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        output.WriteLine($"{source.BytesProduced / 1e6:F1} MB of CSV read with {allocated / 1e6:F1} MB allocated");
        Assert.Equal(rows, table.RowCount);
        Assert.Equal(1f, table.Label(rows - 1, 0));
        Assert.True(float.IsNaN(table.Label(rows - 1, 1)));
        Assert.True(source.BytesProduced > 60_000_000);
        // the table itself (24,000 SMILES and 48,000 labels) plus fixed buffers; decoding the text whole would take 128 MB
        Assert.InRange(allocated, 0, 8_000_000);
    }

    [Fact]
    public void A_record_without_end_is_refused_before_it_exhausts_memory()
    {
        using var source = new EndlessLine();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Throws<DataFormatException>(() => CsvLabelReader.Read(source, "endless.csv", new CsvReadOptions()));

        Assert.Equal(2, error.Line);
        Assert.Contains("longer than", error.Message);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore, 0, 4L * CsvRecordReaderLimit + (1 << 20));
    }

    private const long CsvRecordReaderLimit = 1 << 24; // characters; 2 bytes each, and the buffer grows by doubling

    /// <summary>A CSV produced row by row as it is read: a header of t0..t(n-1), then rows "CCO,&lt;200 chars&gt;,1,&lt;200 chars&gt;,,…".</summary>
    private sealed class GeneratedCsv : Stream
    {
        private readonly byte[] _row;
        private readonly int _rows;
        private byte[] _pending;
        private int _pendingAt;
        private int _rowsProduced;

        public GeneratedCsv(int columns, int rows)
        {
            _rows = rows;
            _pending = Encoding.UTF8.GetBytes("smiles," + string.Join(',', Enumerable.Range(0, columns).Select(i => $"t{i}")) + "\n");
            _row = Encoding.UTF8.GetBytes("CCO," + string.Join(',', Enumerable.Range(0, columns).Select(i => i switch { 1 => "1", 3 => "", _ => new string('x', 200) })) + "\n");
        }

        public long BytesProduced { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_pendingAt == _pending.Length)
            {
                if (_rowsProduced == _rows) return 0;
                _pending = _row;
                _pendingAt = 0;
                _rowsProduced++;
            }
            var n = Math.Min(count, _pending.Length - _pendingAt);
            Array.Copy(_pending, _pendingAt, buffer, offset, n);
            _pendingAt += n;
            BytesProduced += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesProduced; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A header, then a second line that never ends.</summary>
    private sealed class EndlessLine : Stream
    {
        private bool _headerSent;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (!_headerSent)
            {
                _headerSent = true;
                "smiles,a\n"u8.CopyTo(buffer.AsSpan(offset));
                return 9;
            }
            buffer.AsSpan(offset, count).Fill((byte)'C');
            return count;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
