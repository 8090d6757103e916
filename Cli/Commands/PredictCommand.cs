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
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "checkpoint directory written by train (…/checkpoint), or the --out directory of train --ensemble (holds ensemble.json: its members' mean)", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "CSV (or .csv.gz) with a SMILES column", Required = true };
        var smilesColumn = new Option<string?>("--smiles-column") { Description = "SMILES column (default: the one the model was trained with)" };
        var longColumns = new LongFormatOptions();
        var output = new Option<FileInfo>("--out") { Description = "CSV to write: smiles, valid, then one column per task", Required = true };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var tasks = new Option<string?>("--tasks") { Description = "comma-separated task names: write only their columns (default: every task of the checkpoint)" };
        var command = new Command("predict", "predict every task (or --tasks) for the molecules of a CSV") { checkpoint, data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, output, device, tasks };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var checkpointPath = parse.GetValue(checkpoint)!.FullName;
            var models = Predictor.Read(checkpointPath);
            var model = models[0];
            var selected = Predictor.SelectTasks(model, parse.GetValue(tasks));
            var rows = Predictor.Predict(models, parse.GetValue(data)!.FullName, parse.GetValue(smilesColumn), DeviceName.Parse(parse.GetValue(device)!),
                parse.GetValue(longColumns.TaskColumn), parse.GetValue(longColumns.LabelColumn), selected);
            Predictor.WriteCsv(parse.GetValue(output)!.FullName, model, rows, selected);
            var invalid = rows.Count(r => r.Values is null);
            Console.WriteLine($"wrote {rows.Count} rows × {selected?.Length ?? model.Model.Tasks.Length} tasks to {parse.GetValue(output)!.FullName}" +
                              (invalid > 0 ? $" ({invalid} invalid SMILES left empty)" : ""));
            return Task.FromResult(0);
        }));
        return command;
    }
}

/// <summary>One input row's predictions: null when its SMILES could not be parsed.</summary>
public sealed record PredictionRow(string Smiles, int Line, float[]? Values);

/// <summary>Inference from a checkpoint, usable without the command line.</summary>
public static class Predictor
{
    /// <summary>The model in <paramref name="path"/>: a checkpoint (one model), or an ensemble's directory (its members; see <see cref="Ensemble"/>).</summary>
    public static IReadOnlyList<Checkpoint> Read(string path)
    {
        if (Ensemble.IsIn(path)) return Ensemble.Read(path);
        var model = Checkpoint.Read(path);
        CheckpointCompatibility.Require(CheckpointCompatibility.CompareWeights(model), path, "its own model.json");
        return [model];
    }

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
        string? taskColumn = null, string? labelColumn = null, int[]? taskColumns = null)
    {
        var spec = models[0].Model.Spec;
        var table = LabelFile.Read(dataPath, new CsvReadOptions(smilesColumn ?? spec.Dataset.SmilesColumn, Tasks: [], TaskColumn: taskColumn, LabelColumn: labelColumn));
        var molecules = FeatureEncoding.Featurize(table.Smiles, spec.Featurizer);
        var (features, valid) = (molecules.Features, molecules.Valid());
        var columns = taskColumns?.Length ?? models[0].Model.Tasks.Length;
        var predictions = Ensemble.Predict(models, molecules.Inputs(models[0].Model.FeatureSize), valid, device, taskColumns);
        var result = new PredictionRow[table.RowCount];
        for (var row = 0; row < table.RowCount; row++) result[row] = new PredictionRow(table.Smiles[row], table.LineNumbers[row], null);
        for (var i = 0; i < valid.Length; i++)
            result[valid[i]] = result[valid[i]] with { Values = predictions.AsSpan(i * columns, columns).ToArray() };
        return result;
    }

    /// <summary>The rows as CSV: smiles, valid, then the tasks <paramref name="taskColumns"/> (null: all), as <see cref="Predict"/> gave them.</summary>
    public static void WriteCsv(string path, Checkpoint checkpoint, IReadOnlyList<PredictionRow> rows, int[]? taskColumns = null)
    {
        var names = (taskColumns ?? Enumerable.Range(0, checkpoint.Model.Tasks.Length).ToArray()).Select(j => checkpoint.Model.Tasks[j].Name).ToArray();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new StreamWriter(path);
        writer.WriteLine(string.Join(',', new[] { "smiles", "valid" }.Concat(names.Select(Csv.Quote))));
        foreach (var row in rows)
        {
            var cells = row.Values is null
                ? Enumerable.Repeat("", names.Length)
                : row.Values.Select(v => v.ToString("G9", CultureInfo.InvariantCulture));
            writer.WriteLine(string.Join(',', new[] { Csv.Quote(row.Smiles), row.Values is null ? "false" : "true" }.Concat(cells)));
        }
    }
}

public static class Csv
{
    /// <summary>Quotes a field when it holds a comma, a quote or a line break (RFC 4180).</summary>
    public static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : $"\"{field.Replace("\"", "\"\"")}\"";
}
