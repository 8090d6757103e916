namespace MtnnCluster.Data;

/// <summary>
/// Molecules and their task labels, as read from a label file. Labels are row-major
/// (<c>Labels[row * TaskCount + task]</c>); <see cref="float.NaN"/> marks a missing label.
/// </summary>
public sealed class LabelTable
{
    private readonly int[] _labelled;
    private readonly int[] _positives;

    public LabelTable(
        string path, string[] smiles, int[] lineNumbers, TaskInfo[] tasks, float[] labels, IReadOnlyList<string> warnings)
    {
        if (lineNumbers.Length != smiles.Length)
            throw new ArgumentException($"{lineNumbers.Length} line numbers for {smiles.Length} rows.", nameof(lineNumbers));
        if (labels.Length != (long)smiles.Length * tasks.Length)
            throw new ArgumentException(
                $"{labels.Length} labels for {smiles.Length} rows × {tasks.Length} tasks.", nameof(labels));

        Path = path;
        Smiles = smiles;
        LineNumbers = lineNumbers;
        Tasks = tasks;
        Labels = labels;
        Warnings = warnings;
        (_labelled, _positives) = CountLabels();
    }

    /// <summary>The file the table was read from.</summary>
    public string Path { get; }

    public string[] Smiles { get; }

    /// <summary>1-based line of the file on which each row starts.</summary>
    public int[] LineNumbers { get; }

    public TaskInfo[] Tasks { get; }

    /// <summary>Row-major labels, <see cref="float.NaN"/> where missing.</summary>
    public float[] Labels { get; }

    /// <summary>Problems that did not stop the read: skipped rows, tasks that cannot be scored.</summary>
    public IReadOnlyList<string> Warnings { get; }

    public int RowCount => Smiles.Length;

    public int TaskCount => Tasks.Length;

    public float Label(int row, int task) => Labels[row * TaskCount + task];

    /// <summary>The labels of one row, one per task.</summary>
    public ReadOnlySpan<float> RowLabels(int row) => Labels.AsSpan(row * TaskCount, TaskCount);

    /// <summary>Rows that have a label for the task.</summary>
    public int LabelledCount(int task) => _labelled[task];

    /// <summary>Rows labelled 1 for the task; 0 for regression tasks.</summary>
    public int PositiveCount(int task) => _positives[task];

    private (int[] Labelled, int[] Positives) CountLabels()
    {
        var labelled = new int[TaskCount];
        var positives = new int[TaskCount];
        for (var row = 0; row < RowCount; row++)
        {
            var rowLabels = RowLabels(row);
            for (var task = 0; task < TaskCount; task++)
            {
                var label = rowLabels[task];
                if (float.IsNaN(label))
                    continue;
                labelled[task]++;
                if (label == 1f && Tasks[task].Kind == TaskKind.Classification)
                    positives[task]++;
            }
        }
        return (labelled, positives);
    }
}
