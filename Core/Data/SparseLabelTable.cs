namespace MtnnCluster.Data;

/// <summary>How a label file lays out its cells.</summary>
public enum LabelFileFormat
{
    /// <summary>One row per molecule, one column per task.</summary>
    Wide,
    /// <summary>One labelled cell per line: SMILES, task name, label.</summary>
    Long,
}

/// <summary>
/// Molecules and their labelled cells as read from a label file of either format, one row per molecule
/// (a long file's molecules de-duplicated by SMILES string, in order of first appearance).
/// </summary>
/// <param name="LineNumbers">1-based line on which each molecule first appears.</param>
/// <param name="RepeatedLabels">Long format: lines that gave a molecule and task the same label a second time (kept once).</param>
public sealed record SparseLabelTable(
    string Path,
    LabelFileFormat Format,
    string[] Smiles,
    int[] LineNumbers,
    TaskInfo[] Tasks,
    SparseLabels Labels,
    IReadOnlyList<string> Warnings,
    int RepeatedLabels = 0)
{
    public int RowCount => Smiles.Length;
    public int TaskCount => Tasks.Length;

    /// <summary>A wide table's labels kept as their labelled cells.</summary>
    public static SparseLabelTable FromWide(LabelTable table) =>
        new(table.Path, LabelFileFormat.Wide, table.Smiles, table.LineNumbers, table.Tasks,
            SparseLabels.FromDense(table.Labels, table.TaskCount, Enumerable.Range(0, table.RowCount).ToArray()), table.Warnings);
}
