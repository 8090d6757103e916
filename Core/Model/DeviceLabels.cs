using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// A worker's labels for its tasks, resident on its device as compressed sparse rows (only labelled cells: a task
/// column index and a standardised target each), turned into a batch's <see cref="LabelCells"/> on the device. The row offsets are also kept here on the host, where a batch's cell count is summed without a
/// device round trip.
/// </summary>
public sealed class DeviceLabels : IDisposable
{
    private readonly long[] _rowStart;
    private readonly Tensor _rowStartOnDevice;
    private readonly Tensor _columns;
    private readonly Tensor _targets;
    private readonly Tensor _regression;
    private readonly Tensor _positiveBoost;
    private readonly Tensor? _taskWeights;

    public int Tasks { get; }
    public long RowCount => _rowStart.Length - 1;
    /// <summary>Labelled cells.</summary>
    public long Count => _rowStart[^1];
    public long StoredBytes => _rowStart.Length * 8L + Count * 8L;

    /// <param name="rowStart">Rows + 1 offsets into <paramref name="columns"/> and <paramref name="targets"/>.</param>
    /// <param name="columns">Each cell's task column (0 ≤ column &lt; <paramref name="regressionColumns"/>.Length), ascending within a row.</param>
    /// <param name="targets">Each cell's target, standardised for regression columns.</param>
    /// <param name="regressionColumns">Per column: squared error (true) or cross-entropy on logits (false).</param>
    /// <param name="positiveWeights">Per column: the weight of a positive label (1 for regression columns).</param>
    /// <param name="taskWeights">Per column: a factor on every cell's weight (<c>--task-weights</c>); null: 1.</param>
    public DeviceLabels(long[] rowStart, int[] columns, float[] targets, bool[] regressionColumns, float[] positiveWeights, Device device, float[]? taskWeights = null)
    {
        if (rowStart.Length == 0 || rowStart[^1] != columns.Length || columns.Length != targets.Length || positiveWeights.Length != regressionColumns.Length
            || (taskWeights is not null && taskWeights.Length != regressionColumns.Length))
            throw new ArgumentException("device labels: offsets, columns, targets and per-column weights do not match");
        Tasks = regressionColumns.Length;
        _rowStart = rowStart;
        _rowStartOnDevice = tensor(rowStart).to(device);
        _columns = tensor(columns).to(device);
        _targets = tensor(targets).to(device);
        _regression = tensor(regressionColumns).to(device);
        // a positive's weight is 1 + (w - 1): the extra part applies to classification columns only
        _positiveBoost = tensor(positiveWeights.Select((w, c) => regressionColumns[c] ? 0f : w - 1f).ToArray()).to(device);
        // all-1 weights change nothing: the common case pays no extra product per batch
        if (taskWeights is not null && taskWeights.Any(w => w != 1f)) _taskWeights = tensor(taskWeights).to(device);
    }

    /// <summary>A store of the rows of a dense row-major [rows × tasks] matrix, NaN where a label is missing.</summary>
    public static DeviceLabels FromDense(float[] values, int tasks, bool[] regressionColumns, float[] positiveWeights, Device device)
    {
        var rows = values.Length / tasks;
        var rowStart = new long[rows + 1];
        var (columns, targets) = (new List<int>(), new List<float>());
        for (var r = 0; r < rows; r++)
        {
            for (var t = 0; t < tasks; t++)
                if (!float.IsNaN(values[(long)r * tasks + t])) { columns.Add(t); targets.Add(values[(long)r * tasks + t]); }
            rowStart[r + 1] = columns.Count;
        }
        return new DeviceLabels(rowStart, [.. columns], [.. targets], regressionColumns, positiveWeights, device);
    }

    /// <summary>The cells of every row, in order. Call inside a dispose scope.</summary>
    public LabelCells All()
    {
        var rows = new long[RowCount];
        for (var r = 0; r < rows.Length; r++) rows[r] = r;
        return Batch(rows, tensor(rows).to(_targets.device));
    }

    /// <summary>
    /// The labelled cells of <paramref name="rows"/> (positions into this block; the same values as
    /// <paramref name="index"/>, which is on the device), in row order. Call inside a dispose scope.
    /// </summary>
    public LabelCells Batch(ReadOnlySpan<long> rows, Tensor index) =>
        _targets.device_type == DeviceType.CPU && Count < int.MaxValue / sizeof(float) // spans index with int
            ? BatchOnHost(rows)
            : BatchWithTensorOps(rows, index);

    /// <summary><see cref="Batch"/> as tensor ops on the labels' device (a GPU's form).</summary>
    internal LabelCells BatchWithTensorOps(ReadOnlySpan<long> rows, Tensor index)
    {
        var (cellRow, cell, count) = Cells(rows, index);
        var columns = _columns.index_select(0, cell).to(ScalarType.Int64);
        var targets = _targets.index_select(0, cell);
        var weights = targets.mul(_positiveBoost.index_select(0, columns)).add(Scalars.One);
        if (_taskWeights is not null) weights = weights.mul(_taskWeights.index_select(0, columns));
        return new LabelCells(cellRow, columns, targets, weights, _regression.index_select(0, columns), count);
    }

    /// <summary>
    /// <see cref="Batch"/> on host memory: the cells copied out in one loop over the rows (the dozen tensor ops of
    /// the device form cost a head step at 10,000 tasks a third of its time). The same values: a weight is
    /// (target × positive boost + 1) × task weight, in float32 as there.
    /// </summary>
    private LabelCells BatchOnHost(ReadOnlySpan<long> rows)
    {
        var total = CellCount(rows);
        var count = checked((int)total);
        // written straight into the tensors: managed arrays of a batch's 10,000+ cells were large-object-heap
        // allocations on every step, and a copy each
        var cells = new LabelCells(empty(count, ScalarType.Int64), empty(count, ScalarType.Int64), empty(count, ScalarType.Float32),
            empty(count, ScalarType.Float32), empty(count, ScalarType.Bool), total);
        if (count == 0) return cells;
        var cellRow = MemoryMarshal.Cast<byte, long>(cells.Rows.bytes);
        var columns = MemoryMarshal.Cast<byte, long>(cells.Columns.bytes);
        var targets = MemoryMarshal.Cast<byte, float>(cells.Targets.bytes);
        var weights = MemoryMarshal.Cast<byte, float>(cells.Weights.bytes);
        var regression = MemoryMarshal.Cast<byte, bool>(cells.Regression.bytes);
        ReadOnlySpan<int> allColumns = MemoryMarshal.Cast<byte, int>(_columns.bytes);
        ReadOnlySpan<float> allTargets = MemoryMarshal.Cast<byte, float>(_targets.bytes), boost = MemoryMarshal.Cast<byte, float>(_positiveBoost.bytes);
        ReadOnlySpan<float> taskWeights = _taskWeights is null ? default : MemoryMarshal.Cast<byte, float>(_taskWeights.bytes);
        ReadOnlySpan<bool> regressionColumns = MemoryMarshal.Cast<byte, bool>(_regression.bytes);
        var k = 0;
        for (var i = 0; i < rows.Length; i++)
            for (var cell = _rowStart[rows[i]]; cell < _rowStart[rows[i] + 1]; cell++, k++)
            {
                var column = allColumns[(int)cell];
                var target = allTargets[(int)cell];
                cellRow[k] = i;
                columns[k] = column;
                targets[k] = target;
                regression[k] = regressionColumns[column];
                weights[k] = WeightOf(column, target, boost, taskWeights);
            }
        return cells;
    }

    /// <summary>
    /// The cells of <paramref name="steps"/>' rows grouped by head, for a head-major epoch on the host (the same
    /// targets and weights as <see cref="Batch"/>); null where the labels are not on host memory. A step with no
    /// cells is left out.
    /// </summary>
    public HeadEpochCells? EpochCellsOnHost(IReadOnlyList<HeadEpochCells.StepRows> steps)
    {
        if (_targets.device_type != DeviceType.CPU || Count >= int.MaxValue / sizeof(float)) return null; // spans index with int
        ReadOnlySpan<int> allColumns = MemoryMarshal.Cast<byte, int>(_columns.bytes);
        ReadOnlySpan<float> allTargets = MemoryMarshal.Cast<byte, float>(_targets.bytes), boost = MemoryMarshal.Cast<byte, float>(_positiveBoost.bytes);
        ReadOnlySpan<float> taskWeights = _taskWeights is null ? default : MemoryMarshal.Cast<byte, float>(_taskWeights.bytes);
        // counted first: each head's cells, each kept step's cells and rows
        var first = new int[Tasks + 1];
        var (stepCells, stepRows, scales) = (new List<long>(), new List<long>(), new List<float>());
        var cellsOf = steps.Select(s => CellCount(s.Positions)).ToArray();
        long total = 0;
        for (var s = 0; s < steps.Count; s++)
        {
            var (step, cells) = (steps[s], cellsOf[s]);
            if (cells == 0) continue;
            total = checked(total + cells);
            stepCells.Add(cells);
            stepRows.Add(step.Positions.Length);
            scales.Add((float)step.Scale);
            foreach (var row in step.Positions)
                for (var cell = _rowStart[row]; cell < _rowStart[row + 1]; cell++) first[allColumns[(int)cell] + 1]++;
        }
        for (var c = 0; c < Tasks; c++) first[c + 1] += first[c];
        var count = checked((int)total);
        var grouped = new HeadEpochCells.Cell[count];
        var next = first[..^1];
        var kept = 0;
        for (var s = 0; s < steps.Count; s++)
        {
            var step = steps[s];
            if (cellsOf[s] == 0) continue;
            for (var i = 0; i < step.Positions.Length; i++)
                for (var cell = _rowStart[step.Positions[i]]; cell < _rowStart[step.Positions[i] + 1]; cell++)
                {
                    var column = allColumns[(int)cell];
                    var target = allTargets[(int)cell];
                    grouped[next[column]++] = new(kept, step.EmbeddingRows[i], target, WeightOf(column, target, boost, taskWeights));
                }
            kept++;
        }
        var regression = MemoryMarshal.Cast<byte, bool>(_regression.bytes).ToArray();
        return new HeadEpochCells(first, grouped, regression, [.. scales], [.. stepCells], [.. stepRows]);
    }

    /// <summary>A cell's loss weight: (target × positive boost + 1) × task weight (none: 1), in float32 as the device form computes it.</summary>
    private static float WeightOf(int column, float target, ReadOnlySpan<float> boost, ReadOnlySpan<float> taskWeights)
    {
        var weight = target * boost[column] + 1f;
        return taskWeights.IsEmpty ? weight : weight * taskWeights[column];
    }

    /// <summary>How many labelled cells the given rows hold, from the host's row offsets.</summary>
    private long CellCount(ReadOnlySpan<long> rows)
    {
        long total = 0;
        foreach (var row in rows) total += _rowStart[row + 1] - _rowStart[row];
        return total;
    }

    /// <summary>
    /// For the cells of the given rows: which batch row each belongs to, and its index in this store. Computed on
    /// the device from the row offsets; only the cell count comes from the host.
    /// </summary>
    private (Tensor CellRow, Tensor Cell, long Count) Cells(ReadOnlySpan<long> rows, Tensor index)
    {
        var total = CellCount(rows);
        var (cellRow, cell) = CompressedRows.Runs(_rowStartOnDevice, index, total);
        return (cellRow, cell, total);
    }

    public void Dispose()
    {
        _rowStartOnDevice.Dispose();
        _columns.Dispose();
        _targets.Dispose();
        _regression.Dispose();
        _positiveBoost.Dispose();
        _taskWeights?.Dispose();
    }
}
