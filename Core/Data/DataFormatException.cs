namespace MtnnCluster.Data;

/// <summary>A data file that cannot be read as asked, located by file, line and column.</summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string path, int line, string? column, string detail, Exception? inner = null)
        : base(Describe(path, line, column, detail), inner)
    {
        Path = path;
        Line = line;
        Column = column;
    }

    public string Path { get; }

    /// <summary>1-based line of the file where the problem is.</summary>
    public int Line { get; }

    /// <summary>Name of the column concerned, when there is one.</summary>
    public string? Column { get; }

    private static string Describe(string path, int line, string? column, string detail) =>
        column is null
            ? $"{path}, line {line}: {detail}"
            : $"{path}, line {line}, column '{column}': {detail}";
}
