using System.Text;

namespace MtnnCluster.Data;

/// <summary>
/// Reads a label CSV (plain or gzip) of either format, told apart by its header: long when it has the task and the
/// label column (see <see cref="CsvReadOptions.TaskColumn"/>), wide otherwise.
/// </summary>
public static class LabelFile
{
    public static SparseLabelTable Read(string path, CsvReadOptions options)
    {
        using var stream = DataFile.OpenRead(path);
        using var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var records = new CsvRecordReader(text, path, DataFile.Separator(path));
        try
        {
            var header = CsvLabelReader.ReadHeader(path, records);
            return IsLong(path, header, options)
                ? LongLabelReader.Read(path, records, header, options)
                : SparseLabelTable.FromWide(CsvLabelReader.ReadTable(path, records, header, options));
        }
        catch (GzipBombException e)
        {
            throw new DataFormatException(path, records.CurrentLine, null, e.Message, e);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, records.CurrentLine, null,
                $"the gzip file is truncated or corrupt; reading stopped on this line ({e.Message})", e);
        }
    }

    /// <summary>The format of a file whose header is <paramref name="header"/>; a named task or label column that is missing is an error.</summary>
    public static bool IsLong(string path, string[] header, CsvReadOptions options)
    {
        var taskColumn = options.TaskColumn ?? CsvReadOptions.DefaultTaskColumn;
        var labelColumn = options.LabelColumn ?? CsvReadOptions.DefaultLabelColumn;
        if (!options.RequiresLong)
            return header.Contains(taskColumn) && header.Contains(labelColumn) && header.Contains(options.SmilesColumn);
        foreach (var (column, role) in new[] { (taskColumn, "task"), (labelColumn, "label") })
            if (!header.Contains(column))
                throw new DataFormatException(path, CsvColumnLayout.HeaderLine, column,
                    $"there is no {role} column '{column}' (a long file has a SMILES, a task and a label column); the columns are: {CsvColumnLayout.List(header)}");
        return true;
    }
}
