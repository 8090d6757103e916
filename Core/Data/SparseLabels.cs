namespace MtnnCluster.Data;

/// <summary>
/// A row × task label table that keeps only the labelled cells, row by row (compressed sparse rows, tasks ascending
/// within a row). Multitask datasets are mostly missing labels: a million rows × 10,000 tasks at 1% density is
/// 100 M labels (800 MB here) where the dense matrix would be 40 GB.
/// </summary>
public sealed class SparseLabels
{
    private readonly long[] _rowStart;
    private readonly int[] _tasks;
    private readonly float[] _values;

    public int Rows => _rowStart.Length - 1;
    public int Tasks { get; }
    /// <summary>Labelled cells.</summary>
    public long Count => _rowStart[^1];

    /// <param name="rowStart">Rows + 1 offsets into <paramref name="tasks"/> and <paramref name="values"/>.</param>
    public SparseLabels(int taskCount, long[] rowStart, int[] tasks, float[] values)
    {
        if (rowStart.Length == 0 || rowStart[0] != 0 || rowStart[^1] != tasks.Length || tasks.Length != values.Length)
            throw new ArgumentException($"sparse labels: {rowStart.Length} row offsets ending at {(rowStart.Length > 0 ? rowStart[^1] : -1)} do not match {tasks.Length} tasks and {values.Length} values");
        for (var row = 0; row < rowStart.Length - 1; row++)
        {
            if (rowStart[row + 1] < rowStart[row]) throw new ArgumentException($"sparse labels: row {row} ends before it starts");
            for (var k = rowStart[row]; k < rowStart[row + 1]; k++)
            {
                if ((uint)tasks[k] >= (uint)taskCount) throw new ArgumentException($"sparse labels: row {row} names task {tasks[k]} of {taskCount}");
                if (k > rowStart[row] && tasks[k] <= tasks[k - 1]) throw new ArgumentException($"sparse labels: row {row} lists its tasks out of order or twice");
                if (float.IsNaN(values[k])) throw new ArgumentException($"sparse labels: row {row}, task {tasks[k]} is stored but missing (NaN)");
            }
        }
        Tasks = taskCount;
        _rowStart = rowStart;
        _tasks = tasks;
        _values = values;
    }

    /// <summary>The labelled cells of <paramref name="rows"/> (in that order) of a dense row-major matrix with NaN for missing.</summary>
    public static SparseLabels FromDense(float[] dense, int taskCount, IReadOnlyList<int> rows)
    {
        var rowStart = new long[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++)
        {
            var labelled = 0;
            for (var t = 0; t < taskCount; t++) if (!float.IsNaN(dense[(long)rows[i] * taskCount + t])) labelled++;
            rowStart[i + 1] = rowStart[i] + labelled;
        }
        var tasks = new int[rowStart[^1]];
        var values = new float[rowStart[^1]];
        for (var i = 0; i < rows.Count; i++)
        {
            var k = rowStart[i];
            for (var t = 0; t < taskCount; t++)
            {
                var y = dense[(long)rows[i] * taskCount + t];
                if (float.IsNaN(y)) continue;
                tasks[k] = t;
                values[k++] = y;
            }
        }
        return new SparseLabels(taskCount, rowStart, tasks, values);
    }

    /// <summary>Joins per-row cells (tasks ascending) made independently, for example in parallel.</summary>
    public static SparseLabels FromRows(int taskCount, IReadOnlyList<(int[] Tasks, float[] Values)> rows)
    {
        var rowStart = new long[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++) rowStart[i + 1] = rowStart[i] + rows[i].Tasks.Length;
        var tasks = new int[rowStart[^1]];
        var values = new float[rowStart[^1]];
        Parallel.For(0, rows.Count, i =>
        {
            rows[i].Tasks.CopyTo(tasks, rowStart[i]);
            rows[i].Values.CopyTo(values, rowStart[i]);
        });
        return new SparseLabels(taskCount, rowStart, tasks, values);
    }

    /// <summary>The cells of <paramref name="rows"/> (in that order) as a table of their own.</summary>
    public SparseLabels SelectRows(IReadOnlyList<int> rows)
    {
        var rowStart = new long[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++) rowStart[i + 1] = rowStart[i] + (_rowStart[rows[i] + 1] - _rowStart[rows[i]]);
        var tasks = new int[rowStart[^1]];
        var values = new float[rowStart[^1]];
        for (var i = 0; i < rows.Count; i++)
        {
            TasksOf(rows[i]).CopyTo(tasks.AsSpan((int)rowStart[i]));
            ValuesOf(rows[i]).CopyTo(values.AsSpan((int)rowStart[i]));
        }
        return new SparseLabels(Tasks, rowStart, tasks, values);
    }

    public ReadOnlySpan<int> TasksOf(int row) => _tasks.AsSpan((int)_rowStart[row], (int)(_rowStart[row + 1] - _rowStart[row]));

    public ReadOnlySpan<float> ValuesOf(int row) => _values.AsSpan((int)_rowStart[row], (int)(_rowStart[row + 1] - _rowStart[row]));

    /// <summary>The label of one cell, NaN where missing.</summary>
    public float Label(int row, int task)
    {
        var at = TasksOf(row).BinarySearch(task);
        return at >= 0 ? ValuesOf(row)[at] : float.NaN;
    }

    /// <summary>Labelled cells of each task among <paramref name="rows"/>.</summary>
    public long[] CountPerTask(IEnumerable<int> rows)
    {
        var counts = new long[Tasks];
        foreach (var row in rows)
            foreach (var task in TasksOf(row)) counts[task]++;
        return counts;
    }
}
