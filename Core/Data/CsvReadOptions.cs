namespace MtnnCluster.Data;

/// <summary>Which columns of a label CSV to read and how to interpret them.</summary>
/// <param name="SmilesColumn">Name of the column that holds the SMILES strings.</param>
/// <param name="Tasks">Tasks to read, in this order; null reads every task in file order (columns of a wide file,
/// task names of a long file in order of first appearance).</param>
/// <param name="KindOverrides">Task kinds to use instead of the inferred ones.</param>
/// <param name="TaskColumn">Long format: the column naming each line's task. Null: <see cref="DefaultTaskColumn"/>,
/// and the file is long only if its header has both it and the label column; given: the file must be long.</param>
/// <param name="LabelColumn">Long format: the column holding each line's label; null as for <paramref name="TaskColumn"/>.</param>
public sealed record CsvReadOptions(
    string SmilesColumn = "smiles",
    IReadOnlyList<string>? Tasks = null,
    IReadOnlyDictionary<string, TaskKind>? KindOverrides = null,
    string? TaskColumn = null,
    string? LabelColumn = null)
{
    public const string DefaultTaskColumn = "task";
    public const string DefaultLabelColumn = "label";

    /// <summary>True when a task or label column was named, so that only a long file will do.</summary>
    public bool RequiresLong => TaskColumn is not null || LabelColumn is not null;
}
