namespace MtnnCluster.Data;

/// <summary>Which columns of a label CSV to read and how to interpret them.</summary>
/// <param name="SmilesColumn">Name of the column that holds the SMILES strings.</param>
/// <param name="Tasks">Task columns to read, in this order; null reads every other column in file order.</param>
/// <param name="KindOverrides">Task kinds to use instead of the inferred ones.</param>
public sealed record CsvReadOptions(
    string SmilesColumn = "smiles",
    IReadOnlyList<string>? Tasks = null,
    IReadOnlyDictionary<string, TaskKind>? KindOverrides = null);
