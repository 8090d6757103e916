using System.Buffers;

namespace MtnnCluster.Data;

/// <summary>
/// Streams RFC 4180 records from text: comma-separated fields (or tab-separated, <paramref name="separator"/>), double-quoted fields that may hold
/// commas, quotes (doubled) and line breaks, CRLF or LF line ends. Only the current record is held,
/// so memory does not grow with the file. Blank lines are skipped. The text comes from a decoder that
/// replaces invalid bytes with U+FFFD; meeting that character here reports the exact line and column.
/// </summary>
internal sealed class CsvRecordReader(TextReader text, string path, char separator = ',')
{
    /// <summary>Longest record accepted: far beyond a row of tens of thousands of tasks, short of exhausting memory
    /// on a file that is not CSV (one endless line, or a quote never closed).</summary>
    public const int MaxRecordChars = 1 << 24;

    /// <summary>
    /// Most fields a record may have: ten times the widest public multitask table (FS-Mol's ~5,000 tasks) is still
    /// far below this, and every column costs per-row state downstream; a line of commas must not decide that.
    /// </summary>
    public const int MaxColumns = 100_000;

    private const int End = -1;
    private const char Replacement = '\uFFFD';
    private readonly SearchValues<char> UnquotedFieldEnds = SearchValues.Create($"{separator}\r\n");

    private readonly char[] _buffer = new char[1 << 16];
    private int _bufferPos;
    private int _bufferLength;

    private char[] _record = new char[256];
    private int _recordLength;
    private int[] _fieldEnds = new int[16];

    /// <summary>1-based line the reader has reached.</summary>
    public int CurrentLine { get; private set; } = 1;

    /// <summary>1-based line on which the current record starts.</summary>
    public int RecordLine { get; private set; }

    public int FieldCount { get; private set; }

    /// <summary>Column names used in syntax errors once the header is known.</summary>
    public IReadOnlyList<string>? ColumnNames { get; set; }

    public ReadOnlySpan<char> Field(int index)
    {
        var start = index == 0 ? 0 : _fieldEnds[index - 1];
        return _record.AsSpan(start, _fieldEnds[index] - start);
    }

    public string[] FieldsAsStrings()
    {
        var fields = new string[FieldCount];
        for (var i = 0; i < FieldCount; i++)
            fields[i] = Field(i).ToString();
        return fields;
    }

    /// <summary>Reads the next non-blank record; false at the end of the text.</summary>
    public bool ReadRecord()
    {
        while (IsLineEnd(Peek()))
            Next();
        if (Peek() == End)
            return false;

        RecordLine = CurrentLine;
        _recordLength = 0;
        FieldCount = 0;
        while (ReadField())
        {
        }
        return true;
    }

    /// <summary>Appends one field to the record; true when another field follows on the same record.</summary>
    private bool ReadField()
    {
        if (Peek() == '"')
            ReadQuotedContent();
        else
            ReadUnquotedContent();
        EndField();

        var next = Next();
        if (next == separator)
            return true;
        if (next is '\r' or '\n' or End)
            return false;
        throw new DataFormatException(
            path, CurrentLine, ColumnName(FieldCount - 1),
            $"unexpected character '{(char)next}' after the closing quote of a quoted field");
    }

    /// <summary>Copies up to the next comma or line end in bulk: the hot path of a large file.</summary>
    private void ReadUnquotedContent()
    {
        while (_bufferPos < _bufferLength || Fill())
        {
            var rest = _buffer.AsSpan(_bufferPos, _bufferLength - _bufferPos);
            var stop = rest.IndexOfAny(UnquotedFieldEnds);
            var content = stop < 0 ? rest : rest[..stop];
            Append(content);
            _bufferPos += content.Length;
            if (stop >= 0)
                return;
        }
    }

    private void ReadQuotedContent()
    {
        var openedOn = CurrentLine;
        Next();
        while (true)
        {
            var c = Next();
            if (c == End)
                throw new DataFormatException(
                    path, openedOn, ColumnName(FieldCount), "a quoted field opened on this line is never closed");
            if (c == '"')
            {
                if (Peek() != '"')
                    return;
                Next();
            }
            Append((char)c);
        }
    }

    private void Append(char c) => Append(new ReadOnlySpan<char>(in c));

    private void Append(ReadOnlySpan<char> chars)
    {
        if (chars.Contains(Replacement))
            throw new DataFormatException(path, CurrentLine, ColumnName(FieldCount),
                "the text is not valid UTF-8 (or holds U+FFFD, the mark of an earlier failed decoding)");
        if (_recordLength + chars.Length > MaxRecordChars)
            throw new DataFormatException(path, RecordLine, null,
                $"the record starting on this line is longer than {MaxRecordChars} characters; is this a CSV file, or is a quote left open?");
        if (_recordLength + chars.Length > _record.Length)
            Array.Resize(ref _record, Math.Min(MaxRecordChars, Math.Max(_record.Length * 2, _recordLength + chars.Length)));
        chars.CopyTo(_record.AsSpan(_recordLength));
        _recordLength += chars.Length;
    }

    private void EndField()
    {
        if (FieldCount == MaxColumns)
            throw new DataFormatException(path, RecordLine, null,
                $"more than {MaxColumns} columns on this line: not a table this reader takes (a file of another format, or a separator other than ',')");
        if (FieldCount == _fieldEnds.Length)
            Array.Resize(ref _fieldEnds, _fieldEnds.Length * 2);
        _fieldEnds[FieldCount++] = _recordLength;
    }

    private int Peek()
    {
        if (_bufferPos == _bufferLength && !Fill())
            return End;
        return _buffer[_bufferPos];
    }

    /// <summary>Consumes one character, counting a line at each LF and at each CR not followed by LF.</summary>
    private int Next()
    {
        var c = Peek();
        if (c == End)
            return End;
        _bufferPos++;
        if (c == '\n' || (c == '\r' && Peek() != '\n'))
            CurrentLine++;
        return c;
    }

    private bool Fill()
    {
        _bufferLength = text.Read(_buffer, 0, _buffer.Length);
        _bufferPos = 0;
        return _bufferLength > 0;
    }

    private static bool IsLineEnd(int c) => c is '\r' or '\n';

    private string? ColumnName(int index) =>
        ColumnNames is { } names && index < names.Count ? names[index] : null;
}
