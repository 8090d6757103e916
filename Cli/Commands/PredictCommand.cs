using System.CommandLine;
using System.Globalization;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn predict</c>: a checkpoint and a CSV of SMILES in, one column of predictions per task out.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "the model: a run's --out directory, the --out of train --ensemble (its members' mean), or a checkpoint directory", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "CSV, TSV (or .gz) with a SMILES column; its other columns are kept in the output", Required = true };
        var smilesColumn = new Option<string?>("--smiles-column") { Description = "SMILES column (default: the one the model was trained with)" };
        var longColumns = new LongFormatOptions();
        var output = new Option<FileInfo>("--out") { Description = "CSV to write: every column of --data in order, then error (why a row has no prediction), then one column per task", Required = true };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var tasks = new Option<string?>("--tasks") { Description = "comma-separated task names: write only their columns (default: every task of the checkpoint)" };
        var command = new Command("predict", "predict every task (or --tasks) for the molecules of a CSV, keeping its columns")
            { checkpoint, data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, longColumns.LabelConflicts, output, device, tasks };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var outPath = parse.GetValue(output)!.FullName;
            if (Directory.Exists(outPath)) throw new ArgumentException($"--out: {outPath} is a directory; give the name of the CSV file to write");
            var dataPath = parse.GetValue(data)!.FullName;
            InputFile.RequireRegularFile(dataPath, "--data");
            var source = ModelSource.Load(parse.GetValue(checkpoint)!.FullName);
            Console.WriteLine($"predicting with {source.Description}");
            var model = source.Models[0];
            var selected = Predictor.SelectTasks(model, parse.GetValue(tasks));
            var rows = Predictor.Predict(source.Models, dataPath, parse.GetValue(smilesColumn), DeviceName.Parse(parse.GetValue(device)!),
                parse.GetValue(longColumns.TaskColumn), parse.GetValue(longColumns.LabelColumn), selected, LongFormatOptions.ParseConflicts(parse.GetValue(longColumns.LabelConflicts)!));
            var kept = Predictor.WriteCsv(outPath, model, rows, selected, dataPath);
            var invalid = rows.Where(r => r.Values is null).ToArray();
            Console.WriteLine($"wrote {rows.Count} rows × {selected?.Length ?? model.Model.Tasks.Length} tasks to {outPath}" + (kept ? " (the input's columns first)" : ""));
            if (invalid.Length > 0)
                Console.WriteLine($"{invalid.Length} row(s) without predictions (the error column says why): " +
                                  string.Join(", ", invalid.Take(3).Select(r => $"line {r.Line} '{r.Smiles}'")) + (invalid.Length > 3 ? ", …" : ""));
            return Task.FromResult(0);
        }));
        return command;
    }
}

/// <summary>One input row's predictions: null when its SMILES could not be parsed (<see cref="Error"/> says why).</summary>
public sealed record PredictionRow(string Smiles, int Line, float[]? Values, string? Error = null);

/// <summary>Inference from a checkpoint, usable without the command line.</summary>
public static class Predictor
{
    /// <summary>The model in <paramref name="path"/>: a checkpoint (one model), or an ensemble's directory (its members; see <see cref="Ensemble"/>).</summary>
    public static IReadOnlyList<Checkpoint> Read(string path) => ModelSource.Load(path).Models;

    /// <summary>The checkpoint's columns of the comma-separated task names (null: all); a name it lacks is an error naming it.</summary>
    public static int[]? SelectTasks(Checkpoint checkpoint, string? names)
    {
        if (names is null) return null;
        var index = checkpoint.Model.Tasks.Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        var wanted = names.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (wanted.Length == 0) throw new ArgumentException("--tasks: the list names no task");
        var unknown = wanted.Where(n => !index.ContainsKey(n)).ToArray();
        if (unknown.Length > 0)
            throw new ArgumentException($"--tasks: the checkpoint has no task {string.Join(", ", unknown.Take(10).Select(n => $"'{n}'"))}{(unknown.Length > 10 ? $" (and {unknown.Length - 10} more)" : "")}");
        return wanted.Distinct(StringComparer.Ordinal).Select(n => index[n]).ToArray();
    }

    /// <summary>
    /// One row per molecule of <paramref name="dataPath"/> (a long file's molecules once each, in order of first
    /// appearance); values for the tasks <paramref name="taskColumns"/> (null: all), in that order.
    /// </summary>
    public static IReadOnlyList<PredictionRow> Predict(Checkpoint checkpoint, string dataPath, string? smilesColumn, Device device,
        string? taskColumn = null, string? labelColumn = null, int[]? taskColumns = null) =>
        Predict([checkpoint], dataPath, smilesColumn, device, taskColumn, labelColumn, taskColumns);

    /// <summary>As above, with the mean of the models' predictions (<see cref="Ensemble.Predict"/>); the first model's settings read the file.</summary>
    public static IReadOnlyList<PredictionRow> Predict(IReadOnlyList<Checkpoint> models, string dataPath, string? smilesColumn, Device device,
        string? taskColumn = null, string? labelColumn = null, int[]? taskColumns = null, LabelConflicts conflicts = LabelConflicts.Error)
    {
        var spec = models[0].Model.Spec;
        var table = LabelFile.Read(dataPath, new CsvReadOptions(smilesColumn ?? spec.Dataset.SmilesColumn, Tasks: [], TaskColumn: taskColumn, LabelColumn: labelColumn,
            LabelConflicts: conflicts));
        var molecules = FeatureEncoding.Featurize(table.Smiles, spec.Featurizer);
        var (features, valid) = (molecules.Features, molecules.Valid());
        var columns = taskColumns?.Length ?? models[0].Model.Tasks.Length;
        var predictions = Ensemble.Predict(models, molecules.Inputs(models[0].Model.FeatureSize), valid, device, taskColumns);
        var result = new PredictionRow[table.RowCount];
        for (var row = 0; row < table.RowCount; row++) result[row] = new PredictionRow(table.Smiles[row], table.LineNumbers[row], null, molecules.Errors[row] ?? "invalid SMILES");
        for (var i = 0; i < valid.Length; i++)
            result[valid[i]] = result[valid[i]] with { Values = predictions.AsSpan(i * columns, columns).ToArray(), Error = null };
        return result;
    }

    /// <summary>
    /// The rows as CSV: with <paramref name="inputPath"/> a wide file, each of its records with every column in order,
    /// then <c>error</c> and the tasks <paramref name="taskColumns"/> (null: all); otherwise (a long file, one row per
    /// molecule) <c>smiles</c>, <c>error</c> and the tasks. A task named as an input column is written as
    /// <c>pred_TASK</c>. Returns whether the input's columns were kept.
    /// </summary>
    public static bool WriteCsv(string path, Checkpoint checkpoint, IReadOnlyList<PredictionRow> rows, int[]? taskColumns = null, string? inputPath = null)
    {
        var names = (taskColumns ?? Enumerable.Range(0, checkpoint.Model.Tasks.Length).ToArray()).Select(j => checkpoint.Model.Tasks[j].Name).ToArray();
        // a wide file has one record per row, on the same lines as the rows; a long one has several per molecule
        var raw = inputPath is null ? null : RawTable.Read(inputPath);
        var keep = raw is not null && raw.Records.Count == rows.Count && raw.Lines.SequenceEqual(rows.Select(r => r.Line));
        var inputColumns = keep ? raw!.Header : ["smiles"];
        var taken = new HashSet<string>(inputColumns.Append("error"), StringComparer.Ordinal);
        var header = inputColumns.Append("error").Concat(names.Select(n => taken.Contains(n) ? $"pred_{n}" : n));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new StreamWriter(path);
        writer.WriteLine(string.Join(',', header.Select(Csv.Quote)));
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var cells = row.Values is null
                ? Enumerable.Repeat("", names.Length)
                : row.Values.Select(v => v.ToString("G9", CultureInfo.InvariantCulture));
            var input = keep ? raw!.Records[i].Select(Csv.Quote) : [Csv.Quote(row.Smiles)];
            writer.WriteLine(string.Join(',', input.Append(Csv.Quote(row.Error ?? "")).Concat(cells)));
        }
        return keep;
    }
}

public static class Csv
{
    /// <summary>Quotes a field when it holds a comma, a quote or a line break (RFC 4180).</summary>
    public static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : $"\"{field.Replace("\"", "\"\"")}\"";
}
