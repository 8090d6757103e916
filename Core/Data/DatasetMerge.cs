namespace MtnnCluster.Data;

/// <summary>
/// One data file's molecules as it alone reads them, invalid SMILES left out: labels by row, the line each row starts
/// on, and each row's <see cref="Chem.MoleculeKey"/> (null when nothing is matched against this file: a run of one file).
/// </summary>
public sealed record DatasetRows(string Name, string Path, TaskInfo[] Tasks, SparseLabels Labels, int[] LineNumbers, string[]? Keys);

/// <summary>A dataset of a run: its name, its file and its tasks (indices into the run's tasks).</summary>
public sealed record DatasetPart(string Name, string Path, int[] Tasks);

/// <summary>
/// The rows of several data files as one table. <see cref="Origins"/>: the file and row each merged row was first read
/// from; <see cref="NewRows"/>: per file, the rows it added (the rest joined rows of earlier files), in order, so that
/// file k's new rows are rows <c>NewRows[0] + … + NewRows[k-1]</c> onwards.
/// </summary>
public sealed record MergedRows(DatasetPart[] Parts, TaskInfo[] Tasks, (int File, int Row)[] Origins, int[] NewRows, SparseLabels Labels,
    IReadOnlyList<string> Warnings);

/// <summary>
/// Joins the molecules of several files (Ramsundar et al.'s many datasets in one network). Each file's rows stay as that
/// file alone reads them; a row of a later file joins the first row of an earlier file with the same molecule key, or
/// becomes a new row after all earlier ones. Tasks keep their names, prefixed <c>dataset/</c> only where two files
/// have a task of the same name. A molecule and task labelled twice (two rows of one file joining one earlier row)
/// follows <see cref="LabelConflicts"/> as within a long file. One file comes through unchanged.
/// </summary>
public static class DatasetMerge
{
    public const char PrefixSeparator = '/';

    private readonly record struct Cell(int Row, int Task, float Value, int File, int Line);

    public static MergedRows Merge(IReadOnlyList<DatasetRows> files, LabelConflicts conflicts)
    {
        var (parts, tasks) = NameTasks(files);
        var origins = new List<(int File, int Row)>();
        var newRows = new int[files.Count];
        var rowOfKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var cells = new List<Cell>();
        for (var f = 0; f < files.Count; f++)
        {
            var file = files[f];
            var rowOf = new int[file.Labels.Rows];
            for (var r = 0; r < rowOf.Length; r++)
            {
                if (f > 0 && rowOfKey.TryGetValue(file.Keys![r], out var joined)) rowOf[r] = joined;
                else
                {
                    rowOf[r] = origins.Count;
                    origins.Add((f, r));
                    newRows[f]++;
                }
                var rowTasks = file.Labels.TasksOf(r);
                var values = file.Labels.ValuesOf(r);
                for (var k = 0; k < rowTasks.Length; k++)
                    cells.Add(new Cell(rowOf[r], parts[f].Tasks[rowTasks[k]], values[k], f, file.LineNumbers[r]));
            }
            // registered after the file, so that its own rows stay apart as the file alone reads them
            if (file.Keys is not null)
                for (var r = 0; r < rowOf.Length; r++) rowOfKey.TryAdd(file.Keys[r], rowOf[r]);
        }
        var warnings = new List<string>();
        var labels = ToSparse(files, cells, origins.Count, tasks.Select(t => t.Name).ToArray(), conflicts, warnings);
        return new MergedRows(parts, tasks, [.. origins], newRows, labels, warnings);
    }

    /// <summary>The dataset's name: its file name up to the first dot (<c>toxcast.csv.gz</c>: <c>toxcast</c>).</summary>
    public static string NameOf(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        var dot = name.IndexOf('.');
        return dot > 0 ? name[..dot] : name;
    }

    private static (DatasetPart[] Parts, TaskInfo[] Tasks) NameTasks(IReadOnlyList<DatasetRows> files)
    {
        var filesWith = files.SelectMany(f => f.Tasks.Select(t => t.Name).Distinct()).CountBy(name => name, StringComparer.Ordinal)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var tasks = new List<TaskInfo>();
        var indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var parts = new DatasetPart[files.Count];
        for (var f = 0; f < files.Count; f++)
        {
            var indices = new int[files[f].Tasks.Length];
            for (var t = 0; t < indices.Length; t++)
            {
                var task = files[f].Tasks[t];
                var name = filesWith[task.Name] > 1 ? $"{files[f].Name}{PrefixSeparator}{task.Name}" : task.Name;
                if (!indexOf.TryAdd(name, tasks.Count))
                    throw new ArgumentException($"--data: task '{name}' of {files[f].Path} is also a task of another file (after prefixing the clashing names); rename one");
                indices[t] = tasks.Count;
                tasks.Add(task with { Name = name });
            }
            parts[f] = new DatasetPart(files[f].Name, files[f].Path, indices);
        }
        return (parts, [.. tasks]);
    }

    private static SparseLabels ToSparse(IReadOnlyList<DatasetRows> files, List<Cell> cells, int rowCount, string[] taskNames,
        LabelConflicts conflicts, List<string> warnings)
    {
        // a stable sort: the cells of one molecule and task stay in reading order, so that an error names the earlier line first
        var sorted = cells.OrderBy(c => c.Row).ThenBy(c => c.Task).ToArray();
        var rowStart = new long[rowCount + 1];
        var (taskList, values) = (new List<int>(sorted.Length), new List<float>(sorted.Length));
        var (repeated, conflicting) = (0, 0);
        for (var start = 0; start < sorted.Length;)
        {
            var first = sorted[start];
            var end = start + 1;
            var differing = -1;
            for (; end < sorted.Length && sorted[end].Row == first.Row && sorted[end].Task == first.Task; end++)
                if (differing < 0 && sorted[end].Value != first.Value) differing = end;
            if (differing < 0)
            {
                taskList.Add(first.Task);
                values.Add(first.Value);
                rowStart[first.Row + 1] = taskList.Count;
                repeated += end - start - 1;
            }
            else if (conflicts == LabelConflicts.Drop) conflicting++;
            else
            {
                var other = sorted[differing];
                throw new DataFormatException(files[other.File].Path, other.Line, null,
                    $"this line and line {first.Line} are one molecule (molecule keys do not read stereo marks) of an earlier file, " +
                    $"and label task '{taskNames[first.Task]}' differently ({Format(first.Value)} there, {Format(other.Value)} here); " +
                    "--label-conflicts drop leaves such cells out");
            }
            start = end;
        }
        for (var row = 1; row <= rowCount; row++) rowStart[row] = Math.Max(rowStart[row], rowStart[row - 1]);
        if (repeated > 0)
            warnings.Add($"--data: {repeated} label{(repeated > 1 ? "s" : "")} repeated a molecule's label for a task with the same value (the same molecule written twice); kept once");
        if (conflicting > 0)
            warnings.Add($"--data: {conflicting} molecule-task cell{(conflicting > 1 ? "s were" : " was")} labelled with different values for the same molecule; left out (--label-conflicts drop)");
        return new SparseLabels(taskNames.Length, rowStart, [.. taskList], [.. values]);
    }

    private static string Format(float value) => value.ToString("G9", System.Globalization.CultureInfo.InvariantCulture);
}
