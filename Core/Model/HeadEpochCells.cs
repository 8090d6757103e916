namespace MtnnCluster.Model;

/// <summary>
/// The labelled cells of some steps of a head-only epoch, on the host, grouped by head: each head's cells in step
/// order, and within a step in batch order, the order a step's host pass takes them. The input of
/// <see cref="HeadLoss.TryEpochOnHost"/>; made by <see cref="DeviceLabels.EpochCellsOnHost"/>.
/// </summary>
public sealed class HeadEpochCells
{
    /// <summary>
    /// One step's rows: positions in the label store and the row of the embeddings each reads; the batch's labelled
    /// cells in all tasks (of every worker), whose mean the step's loss is.
    /// </summary>
    public readonly record struct StepRows(long[] Positions, int[] EmbeddingRows, long BatchCells)
    {
        public double Scale => 1.0 / BatchCells;
    }

    /// <summary>
    /// The steps cut into consecutive windows of at most <paramref name="maxCells"/> batch cells (a step with more
    /// is a window alone), so that a window's grouped cells stay bounded: [from, to) each.
    /// </summary>
    public static IEnumerable<(int From, int To)> Windows(IReadOnlyList<StepRows> steps, long maxCells)
    {
        for (var from = 0; from < steps.Count;)
        {
            var to = from + 1;
            for (var cells = steps[from].BatchCells; to < steps.Count && cells + steps[to].BatchCells <= maxCells; to++) cells += steps[to].BatchCells;
            yield return (from, to);
            from = to;
        }
    }

    /// <summary>Heads (task columns) and the steps that have cells: steps without any are left out, as a step loop skips them.</summary>
    public int Heads { get; }
    public int Steps { get; }
    public long Count => First[^1];

    /// <summary>Where each head's cells start (heads + 1).</summary>
    internal int[] First { get; }
    /// <summary>One labelled cell: its step (0..<see cref="Steps"/>), the embedding row it reads, its target and loss weight.</summary>
    internal readonly record struct Cell(int Step, int Row, float Target, float Weight);

    /// <summary>The cells, head after head (one array of 16-byte cells: grouping writes each cell once, not four times).</summary>
    internal Cell[] Cells { get; }
    /// <summary>Per head: squared error (true) or cross-entropy on logits.</summary>
    internal bool[] Regression { get; }
    /// <summary>Per step: the scale of its summed loss (one over the batch's labelled cells, all tasks).</summary>
    internal float[] StepScale { get; }
    private readonly long[] _stepCells, _stepRows;

    internal HeadEpochCells(int[] first, Cell[] cells, bool[] regression, float[] stepScale, long[] stepCells, long[] stepRows)
    {
        (First, Cells, Regression, StepScale) = (first, cells, regression, stepScale);
        (_stepCells, _stepRows) = (stepCells, stepRows);
        (Heads, Steps) = (first.Length - 1, stepScale.Length);
    }

    /// <summary>Whether each step, taken alone, has few enough cells for the per-cell host pass (<see cref="HeadBlock.PerCellPath"/>).</summary>
    public bool EveryStepPerCell(long heads)
    {
        for (var s = 0; s < Steps; s++)
            if (!HeadBlock.PerCellPath(_stepCells[s], _stepRows[s], heads)) return false;
        return true;
    }
}
