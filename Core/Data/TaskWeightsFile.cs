using System.Globalization;
using System.Text;

namespace MtnnCluster.Data;

/// <summary>
/// Reads per-task training weights (as SparseChem takes them): a CSV with a header naming a <c>task</c> and a
/// <c>weight</c> column, one task a line. Tasks not listed weigh 1; a name that is not a task of the dataset, a task
/// listed twice, or a weight that is not a finite number ≥ 0 is an error naming the file and line.
/// </summary>
public static class TaskWeightsFile
{
    public const string TaskColumn = "task";
    public const string WeightColumn = "weight";

    /// <returns>One weight per task of <paramref name="tasks"/>, in their order.</returns>
    public static float[] Read(string path, IReadOnlyList<TaskInfo> tasks)
    {
        var indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var t = 0; t < tasks.Count; t++) indexOf[tasks[t].Name] = t;
        var weights = Enumerable.Repeat(1f, tasks.Count).ToArray();
        var listedOn = new int[tasks.Count];

        using var stream = DataFile.OpenRead(path);
        using var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var records = new CsvRecordReader(text, path, DataFile.Separator(path));
        var header = CsvLabelReader.ReadHeader(path, records);
        var fieldOf = CsvColumnLayout.IndexNames(path, header);
        foreach (var column in new[] { TaskColumn, WeightColumn })
            if (!fieldOf.ContainsKey(column))
                throw new DataFormatException(path, CsvColumnLayout.HeaderLine, column,
                    $"there is no '{column}' column (a task weights file has the columns '{TaskColumn}' and '{WeightColumn}'); the columns are: {CsvColumnLayout.List(header)}");
        var (taskField, weightField) = (fieldOf[TaskColumn], fieldOf[WeightColumn]);
        while (records.ReadRecord())
        {
            if (records.FieldCount != header.Length)
                throw new DataFormatException(path, records.RecordLine, null, $"expected {header.Length} fields, found {records.FieldCount}");
            var name = records.Field(taskField).Trim().ToString();
            if (!indexOf.TryGetValue(name, out var task))
                throw new DataFormatException(path, records.RecordLine, TaskColumn,
                    $"'{name}' is not a task of the dataset (it has {tasks.Count}: {CsvColumnLayout.List(tasks.Select(t => t.Name))})");
            if (listedOn[task] > 0)
                throw new DataFormatException(path, records.RecordLine, TaskColumn, $"task '{name}' is already given a weight on line {listedOn[task]}");
            var cell = records.Field(weightField).Trim();
            if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight) || !float.IsFinite(weight) || weight < 0)
                throw new DataFormatException(path, records.RecordLine, WeightColumn, $"weight '{cell}' is not a finite number ≥ 0");
            weights[task] = weight;
            listedOn[task] = records.RecordLine;
        }
        return weights;
    }
}
