using System.Globalization;
using System.Text;

namespace MtnnCluster.Data;

/// <summary>
/// Reads a label CSV (plain or gzip): a header row, one SMILES column, one column per task whose
/// cells are numbers or empty (a missing label). Streams the file, so memory follows the table, not the text.
/// </summary>
public static class CsvLabelReader
{
    private const int ValueShown = 40;

    public static LabelTable Read(string path, CsvReadOptions options)
    {
        using var stream = DataFile.OpenRead(path);
        return Read(stream, path, options);
    }

    /// <summary>Reads CSV text from <paramref name="stream"/> (already decompressed); <paramref name="path"/> names it in errors.</summary>
    public static LabelTable Read(Stream stream, string path, CsvReadOptions options)
    {
        using var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        var records = new CsvRecordReader(text, path, File.Exists(path) ? DataFile.Separator(path) : ','); // a stream named by a label: comma-separated
        try
        {
            return ReadTable(path, records, options);
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

    private static LabelTable ReadTable(string path, CsvRecordReader records, CsvReadOptions options) =>
        ReadTable(path, records, ReadHeader(path, records), options);

    /// <summary>The header row, which also names the columns in later syntax errors.</summary>
    internal static string[] ReadHeader(string path, CsvRecordReader records)
    {
        if (!records.ReadRecord())
            throw new DataFormatException(path, 1, null, "the file is empty; expected a header row");
        var header = records.FieldsAsStrings();
        records.ColumnNames = header;
        return header;
    }

    /// <summary>The rows of a wide file whose header has been read.</summary>
    internal static LabelTable ReadTable(string path, CsvRecordReader records, string[] header, CsvReadOptions options)
    {
        var layout = CsvColumnLayout.Resolve(path, header, options);
        var kinds = layout.TaskNames
            .Select(name => options.KindOverrides is { } overrides && overrides.TryGetValue(name, out var kind) ? kind : (TaskKind?)null)
            .ToArray();

        var smiles = new List<string>();
        var lines = new List<int>();
        var labels = new List<float>();
        var stats = new TaskLabelStats[layout.TaskNames.Length];
        var warnings = new List<string>();
        while (records.ReadRecord())
        {
            if (records.FieldCount != header.Length)
                throw new DataFormatException(path, records.RecordLine, null,
                    $"expected {header.Length} fields, found {records.FieldCount}");
            var molecule = records.Field(layout.SmilesField).Trim();
            if (molecule.IsEmpty)
            {
                warnings.Add($"{path}, line {records.RecordLine}: empty SMILES; row skipped");
                continue;
            }

            for (var task = 0; task < layout.TaskNames.Length; task++)
            {
                var label = ParseLabel(path, records, layout.TaskFields[task], layout.TaskNames[task], kinds[task]);
                stats[task].Add(label);
                labels.Add(label);
            }
            smiles.Add(molecule.ToString());
            lines.Add(records.RecordLine);
        }
        if (smiles.Count == 0)
            throw new DataFormatException(path, records.RecordLine, null, "the file has a header but no rows with a SMILES");

        var tasks = layout.TaskNames
            .Select((name, task) => new TaskInfo(name, kinds[task] ?? stats[task].InferredKind))
            .ToArray();
        warnings.AddRange(tasks.Select((task, i) => stats[i].ScoringWarning(path, task)).OfType<string>());
        return new LabelTable(path, smiles.ToArray(), lines.ToArray(), tasks, labels.ToArray(), warnings);
    }

    internal static float ParseLabel(string path, CsvRecordReader records, int field, string task, TaskKind? kind)
    {
        var cell = records.Field(field).Trim();
        if (cell.IsEmpty)
            return float.NaN;
        if (cell is "0" or "1") // nearly every cell of a classification file
            return cell[0] - '0';
        if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw new DataFormatException(path, records.RecordLine, task, $"label '{Shorten(cell)}' is not a number");
        if (!float.IsFinite(value))
            throw new DataFormatException(path, records.RecordLine, task,
                $"label '{Shorten(cell)}' is not a finite number; leave the cell empty for a missing label");
        if (kind == TaskKind.Classification && value is not (0f or 1f))
            throw new DataFormatException(path, records.RecordLine, task,
                $"label '{Shorten(cell)}' is not 0 or 1, but the task is set to classification");
        return value;
    }

    private static string Shorten(ReadOnlySpan<char> cell) =>
        cell.Length <= ValueShown ? cell.ToString() : $"{cell[..ValueShown]}…";

    /// <summary>What the labels of one task look like, for kind inference and warnings.</summary>
    internal struct TaskLabelStats
    {
        private int _labelled;
        private int _positives;
        private bool _onlyZeroOne;

        public readonly TaskKind InferredKind =>
            _labelled == 0 || _onlyZeroOne ? TaskKind.Classification : TaskKind.Regression;

        public void Add(float label)
        {
            if (float.IsNaN(label))
                return;
            _onlyZeroOne = (_labelled == 0 || _onlyZeroOne) && (label is 0f or 1f);
            _labelled++;
            if (label == 1f)
                _positives++;
        }

        /// <summary>Why the task cannot be scored, or null when it can.</summary>
        public readonly string? ScoringWarning(string path, TaskInfo task)
        {
            if (_labelled == 0)
                return $"{path}: task '{task.Name}' has no labels; it is skipped from metrics";
            if (task.Kind == TaskKind.Classification && (_positives == 0 || _positives == _labelled))
                return $"{path}: task '{task.Name}' has only one class ({_labelled} labels, all {(_positives == 0 ? 0 : 1)}); "
                    + "it is skipped from metrics";
            return null;
        }
    }
}
