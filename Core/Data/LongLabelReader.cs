namespace MtnnCluster.Data;

/// <summary>
/// Reads the rows of a long label file (one labelled cell a line: SMILES, task, label) straight into labelled cells:
/// the molecule × task table is never built. Molecules are de-duplicated by their SMILES string, tasks by name.
/// A molecule and task labelled twice with different values is an error naming both lines (or, asked, left out and
/// counted); twice with the same value is kept once and counted.
/// </summary>
internal static class LongLabelReader
{
    /// <summary>One labelled line, before de-duplication.</summary>
    private readonly record struct Cell(int Row, int Task, float Value, int Line);

    public static SparseLabelTable Read(string path, CsvRecordReader records, string[] header, CsvReadOptions options)
    {
        var fieldOf = CsvColumnLayout.IndexNames(path, header);
        if (!fieldOf.TryGetValue(options.SmilesColumn, out var smilesField))
            throw new DataFormatException(path, CsvColumnLayout.HeaderLine, options.SmilesColumn,
                $"there is no SMILES column '{options.SmilesColumn}'; the columns are: {CsvColumnLayout.List(header)}{CsvColumnLayout.SeparatorHint(header)}");
        var taskColumn = options.TaskColumn ?? CsvReadOptions.DefaultTaskColumn;
        var labelColumn = options.LabelColumn ?? CsvReadOptions.DefaultLabelColumn;
        var (taskField, labelField) = (fieldOf[taskColumn], fieldOf[labelColumn]);
        if (new[] { smilesField, taskField, labelField }.Distinct().Count() < 3)
            throw new ArgumentException($"the SMILES, task and label columns must be three different columns (got '{options.SmilesColumn}', '{taskColumn}', '{labelColumn}')");
        CheckRequestedTasks(options);

        var warnings = new List<string>();
        var ignored = header.Where((_, i) => i != smilesField && i != taskField && i != labelField).ToArray();
        if (ignored.Length > 0)
            warnings.Add($"{path}: long format (SMILES '{options.SmilesColumn}', task '{taskColumn}', label '{labelColumn}'); "
                         + $"column{(ignored.Length > 1 ? "s" : "")} {CsvColumnLayout.List(ignored)} not read");

        // with --tasks the task table is fixed up front, in the order given; else tasks enter as they first appear
        var taskOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var taskNames = new List<string>();
        foreach (var name in options.Tasks ?? [])
        {
            taskOf[name] = taskNames.Count;
            taskNames.Add(name);
        }
        var rowOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var smiles = new List<string>();
        var lines = new List<int>();
        var cells = new List<Cell>();
        var lookup = taskOf.GetAlternateLookup<ReadOnlySpan<char>>();
        var rowLookup = rowOf.GetAlternateLookup<ReadOnlySpan<char>>();
        while (records.ReadRecord())
        {
            if (records.FieldCount != header.Length)
                throw new DataFormatException(path, records.RecordLine, null,
                    $"expected {header.Length} fields, found {records.FieldCount}");
            var molecule = records.Field(smilesField).Trim();
            if (molecule.IsEmpty)
            {
                warnings.Add($"{path}, line {records.RecordLine}: empty SMILES; line skipped");
                continue;
            }
            var taskName = records.Field(taskField).Trim();
            if (taskName.IsEmpty)
                throw new DataFormatException(path, records.RecordLine, taskColumn, "the task name is empty");
            if (!rowLookup.TryGetValue(molecule, out var row))
            {
                row = smiles.Count;
                var text = molecule.ToString();
                rowOf[text] = row;
                smiles.Add(text);
                lines.Add(records.RecordLine);
            }
            if (!lookup.TryGetValue(taskName, out var task))
            {
                if (options.Tasks is not null)
                    continue; // a task not asked for
                task = taskNames.Count;
                var name = taskName.ToString();
                taskOf[name] = task;
                taskNames.Add(name);
            }
            if (records.Field(labelField).Trim().IsEmpty)
                throw new DataFormatException(path, records.RecordLine, labelColumn,
                    "the label is empty; in a long file each line is one labelled cell (leave the line out for a missing label)");
            var value = CsvLabelReader.ParseLabel(path, records, labelField, labelColumn, KindOverride(options, taskNames[task]));
            cells.Add(new Cell(row, task, value, records.RecordLine));
        }
        if (smiles.Count == 0)
            throw new DataFormatException(path, records.RecordLine, null, "the file has a header but no lines with a SMILES");

        var labelled = new bool[taskNames.Count];
        foreach (var cell in cells) labelled[cell.Task] = true;
        var unseen = taskNames.Where((_, t) => !labelled[t]).ToArray();
        if (options.Tasks is not null && unseen.Length > 0)
            throw new DataFormatException(path, CsvColumnLayout.HeaderLine, taskColumn,
                $"no line names the task{(unseen.Length > 1 ? "s" : "")} {CsvColumnLayout.List(unseen)}");
        CsvColumnLayout.CheckKindOverrides(path, options, [.. taskNames]);

        var (labels, repeated, conflicting) = ToSparse(path, cells, smiles.Count, taskNames.Count, options.LabelConflicts);
        if (repeated > 0)
            warnings.Add($"{path}: {repeated} line{(repeated > 1 ? "s" : "")} repeated a molecule's label for a task with the same value; kept once");
        if (conflicting > 0)
            warnings.Add($"{path}: {conflicting} molecule-task cell{(conflicting > 1 ? "s were" : " was")} labelled with different values on different lines; left out (--label-conflicts drop)");
        var tasks = InferKinds(path, options, taskNames, labels, warnings);
        return new SparseLabelTable(path, LabelFileFormat.Long, [.. smiles], [.. lines], tasks, labels, warnings, repeated, conflicting);
    }

    private static void CheckRequestedTasks(CsvReadOptions options)
    {
        var repeated = options.Tasks?.GroupBy(name => name).FirstOrDefault(group => group.Count() > 1);
        if (repeated is not null)
            throw new ArgumentException($"Task '{repeated.Key}' is listed more than once.", nameof(options));
    }

    private static TaskKind? KindOverride(CsvReadOptions options, string task) =>
        options.KindOverrides is { } overrides && overrides.TryGetValue(task, out var kind) ? kind : null;

    /// <summary>
    /// Cells sorted into rows (tasks ascending within a row). A cell given on several lines with one value is kept once
    /// (counted as repeated); with different values it is an error naming two of its lines, or, with
    /// <see cref="LabelConflicts.Drop"/>, left out (counted as conflicting).
    /// </summary>
    private static (SparseLabels Labels, int Repeated, int Conflicting) ToSparse(
        string path, List<Cell> cells, int rowCount, int taskCount, LabelConflicts conflicts)
    {
        var order = cells.ToArray();
        // by row, task, then line, so that an error names the earlier lines
        Array.Sort(order, static (a, b) => a.Row != b.Row ? a.Row.CompareTo(b.Row) : a.Task != b.Task ? a.Task.CompareTo(b.Task) : a.Line.CompareTo(b.Line));
        var rowStart = new long[rowCount + 1];
        var tasks = new List<int>(order.Length);
        var values = new List<float>(order.Length);
        var (repeated, conflicting) = (0, 0);
        for (var start = 0; start < order.Length;)
        {
            var first = order[start];
            var end = start + 1;
            var differing = -1;
            for (; end < order.Length && order[end].Row == first.Row && order[end].Task == first.Task; end++)
                if (differing < 0 && order[end].Value != first.Value) differing = end;
            if (differing < 0)
            {
                tasks.Add(first.Task);
                values.Add(first.Value);
                rowStart[first.Row + 1] = tasks.Count;
                repeated += end - start - 1;
            }
            else if (conflicts == LabelConflicts.Drop) conflicting++;
            else
                throw new DataFormatException(path, order[differing].Line, null,
                    $"the molecule and task of line {first.Line} are labelled again with a different value "
                    + $"({Format(first.Value)} there, {Format(order[differing].Value)} here); "
                    + "--label-conflicts drop leaves such cells out");
            start = end;
        }
        for (var row = 1; row <= rowCount; row++) rowStart[row] = Math.Max(rowStart[row], rowStart[row - 1]);
        return (new SparseLabels(taskCount, rowStart, [.. tasks], [.. values]), repeated, conflicting);
    }

    private static string Format(float value) => value.ToString("G9", System.Globalization.CultureInfo.InvariantCulture);

    private static TaskInfo[] InferKinds(string path, CsvReadOptions options, List<string> names, SparseLabels labels, List<string> warnings)
    {
        var stats = new CsvLabelReader.TaskLabelStats[names.Count];
        for (var row = 0; row < labels.Rows; row++)
        {
            var rowTasks = labels.TasksOf(row);
            var rowValues = labels.ValuesOf(row);
            for (var k = 0; k < rowTasks.Length; k++) stats[rowTasks[k]].Add(rowValues[k]);
        }
        var tasks = names.Select((name, t) => new TaskInfo(name, KindOverride(options, name) ?? stats[t].InferredKind)).ToArray();
        warnings.AddRange(tasks.Select((task, t) => stats[t].ScoringWarning(path, task)).OfType<string>());
        return tasks;
    }
}
