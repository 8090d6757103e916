using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>
/// One split as this worker sees it: every row's position, the rank that owns it, the ranks whose tasks label
/// it, the features of this worker's rows and the labels of this worker's tasks on every row.
/// </summary>
internal sealed class SplitShard(int[] rows, int start, int end, int[] owners, int[][] labelledBy, bool[] labelledHere, int[] cells,
    ITrunkRows features, DeviceLabels labels) : IDisposable
{
    public int[] Rows { get; } = rows;
    public int Start { get; } = start;
    public int End { get; } = end;
    public int[] Owners { get; } = owners;
    /// <summary>Per position: the ranks with a task labelled on the row, ascending.</summary>
    public int[][] LabelledBy { get; } = labelledBy;
    /// <summary>Per position: whether one of this worker's tasks is labelled on the row.</summary>
    public bool[] LabelledHere { get; } = labelledHere;
    /// <summary>Per position: labelled cells over all tasks (a batch's mean loss divides by their sum).</summary>
    public int[] Cells { get; } = cells;
    /// <summary>This worker's rows of the split, as its trunk stores them.</summary>
    public ITrunkRows Features { get; } = features;
    public DeviceLabels Labels { get; } = labels;
    public int Count => Rows.Length;
    public int Own => End - Start;
    public void Dispose() { Features.Dispose(); Labels.Dispose(); }
}
