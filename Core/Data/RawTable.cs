using System.Text;

namespace MtnnCluster.Data;

/// <summary>
/// A data file's header and records exactly as written (every column, in order), for outputs that carry a user's
/// columns through (<c>mtnn predict</c> keeps ids and names beside the predictions). Same reader, separator and
/// errors as the label readers, so its records line up with theirs by line.
/// </summary>
public sealed class RawTable
{
    public required string[] Header { get; init; }
    public required IReadOnlyList<string[]> Records { get; init; }
    public required int[] Lines { get; init; }

    public static RawTable Read(string path)
    {
        using var stream = DataFile.OpenRead(path);
        using var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var records = new CsvRecordReader(text, path, DataFile.Separator(path));
        var header = CsvLabelReader.ReadHeader(path, records);
        var rows = new List<string[]>();
        var lines = new List<int>();
        while (records.ReadRecord())
        {
            rows.Add(records.FieldsAsStrings());
            lines.Add(records.RecordLine);
        }
        return new RawTable { Header = header, Records = rows, Lines = lines.ToArray() };
    }
}
