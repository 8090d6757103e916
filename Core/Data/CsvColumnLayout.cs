namespace MtnnCluster.Data;

/// <summary>Where the SMILES and task columns sit in a label CSV, checked against its header.</summary>
internal sealed class CsvColumnLayout
{
    internal const int HeaderLine = 1;
    private const int NamesShown = 30;

    private CsvColumnLayout(int smilesField, int[] taskFields, string[] taskNames)
    {
        SmilesField = smilesField;
        TaskFields = taskFields;
        TaskNames = taskNames;
    }

    public int SmilesField { get; }

    /// <summary>Field index of each task, in task order.</summary>
    public int[] TaskFields { get; }

    public string[] TaskNames { get; }

    public static CsvColumnLayout Resolve(string path, string[] header, CsvReadOptions options)
    {
        var fieldOf = IndexNames(path, header);
        if (!fieldOf.TryGetValue(options.SmilesColumn, out var smilesField))
            throw new DataFormatException(path, HeaderLine, options.SmilesColumn,
                $"there is no SMILES column '{options.SmilesColumn}'; the columns are: {List(header)}{SeparatorHint(header)}");

        var taskNames = options.Tasks?.ToArray() ?? AllOtherColumns(path, header, smilesField);
        CheckRequestedTasks(path, header, options, fieldOf, taskNames);
        CheckKindOverrides(path, options, taskNames);
        return new CsvColumnLayout(smilesField, taskNames.Select(name => fieldOf[name]).ToArray(), taskNames);
    }

    internal static Dictionary<string, int> IndexNames(string path, string[] header)
    {
        var fieldOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Length; i++)
        {
            if (header[i].Length == 0)
                continue;
            if (!fieldOf.TryAdd(header[i], i))
                throw new DataFormatException(path, HeaderLine, header[i],
                    $"the column name appears twice (fields {fieldOf[header[i]] + 1} and {i + 1})");
        }
        return fieldOf;
    }

    private static string[] AllOtherColumns(string path, string[] header, int smilesField)
    {
        var unnamed = Array.IndexOf(header, "");
        if (unnamed >= 0)
            throw new DataFormatException(path, HeaderLine, null,
                $"field {unnamed + 1} of the header has no name, so it cannot be a task; name it, "
                + "or list the task columns to read");
        return header.Where((_, i) => i != smilesField).ToArray();
    }

    private static void CheckRequestedTasks(
        string path, string[] header, CsvReadOptions options, Dictionary<string, int> fieldOf, string[] taskNames)
    {
        if (options.Tasks is null)
            return;
        var repeated = taskNames.GroupBy(name => name).FirstOrDefault(group => group.Count() > 1);
        if (repeated is not null)
            throw new ArgumentException($"Task '{repeated.Key}' is listed more than once.", nameof(options));
        if (taskNames.Contains(options.SmilesColumn))
            throw new ArgumentException(
                $"The SMILES column '{options.SmilesColumn}' cannot also be a task.", nameof(options));

        var unknown = taskNames.Where(name => !fieldOf.ContainsKey(name)).ToArray();
        if (unknown.Length > 0)
            throw new DataFormatException(path, HeaderLine, unknown[0],
                $"no such task column{(unknown.Length > 1 ? "s" : "")}: {List(unknown)}; "
                + $"the available columns are: {List(header.Where(name => name != options.SmilesColumn))}");
    }

    internal static void CheckKindOverrides(string path, CsvReadOptions options, string[] taskNames)
    {
        var unknown = options.KindOverrides?.Keys.Where(name => !taskNames.Contains(name)).ToArray() ?? [];
        if (unknown.Length > 0)
            throw new DataFormatException(path, HeaderLine, unknown[0],
                $"a kind override names {List(unknown)}, which {(unknown.Length > 1 ? "are not tasks" : "is not a task")}; "
                + $"the tasks are: {List(taskNames)}");
    }

    /// <summary>Quoted names, cut short for files with hundreds of columns.</summary>
    /// <summary>A header read as one column that holds another separator: say which files are read.</summary>
    internal static string SeparatorHint(string[] header) =>
        header.Length == 1 && header[0].IndexOfAny([';', '\t', '|']) >= 0
            ? $" (one column: the file seems separated by '{(header[0].Contains(';') ? ";" : header[0].Contains('\t') ? "\\t" : "|")}'; mtnn reads comma-separated files, and tab-separated ones named .tsv or with tabs and no comma in the header)"
            : "";

    internal static string List(IEnumerable<string> names)
    {
        var all = names.ToArray();
        var shown = string.Join(", ", all.Take(NamesShown).Select(name => $"'{name}'"));
        return all.Length > NamesShown ? $"{shown} … and {all.Length - NamesShown} more" : shown;
    }
}
