using System.CommandLine;
using System.Globalization;
using MtnnCluster.Checkpoints;
using MtnnCluster.Chem;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn predict</c>: a checkpoint and a CSV of SMILES in, one column of predictions per task out.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "checkpoint directory written by train (…/checkpoint)", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "CSV (or .csv.gz) with a SMILES column", Required = true };
        var smilesColumn = new Option<string?>("--smiles-column") { Description = "SMILES column (default: the one the model was trained with)" };
        var longColumns = new LongFormatOptions();
        var output = new Option<FileInfo>("--out") { Description = "CSV to write: smiles, valid, then one column per task", Required = true };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var command = new Command("predict", "predict every task for the molecules of a CSV") { checkpoint, data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, output, device };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var checkpointPath = parse.GetValue(checkpoint)!.FullName;
            var model = Checkpoint.Read(checkpointPath);
            CheckpointCompatibility.Require(CheckpointCompatibility.CompareWeights(model), checkpointPath, "its own model.json");
            var rows = Predictor.Predict(model, parse.GetValue(data)!.FullName, parse.GetValue(smilesColumn), DeviceName.Parse(parse.GetValue(device)!),
                parse.GetValue(longColumns.TaskColumn), parse.GetValue(longColumns.LabelColumn));
            Predictor.WriteCsv(parse.GetValue(output)!.FullName, model, rows);
            var invalid = rows.Count(r => r.Values is null);
            Console.WriteLine($"wrote {rows.Count} rows × {model.Model.Tasks.Length} tasks to {parse.GetValue(output)!.FullName}" +
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
    /// <summary>One row per molecule of <paramref name="dataPath"/> (a long file's molecules once each, in order of first appearance).</summary>
    public static IReadOnlyList<PredictionRow> Predict(Checkpoint checkpoint, string dataPath, string? smilesColumn, Device device,
        string? taskColumn = null, string? labelColumn = null)
    {
        var spec = checkpoint.Model.Spec;
        var table = LabelFile.Read(dataPath, new CsvReadOptions(smilesColumn ?? spec.Dataset.SmilesColumn, Tasks: [], TaskColumn: taskColumn, LabelColumn: labelColumn));
        var featurizer = new EcfpFeaturizer(spec.Featurizer.Radius, spec.Featurizer.Bits);
        var features = new SparseFeatures?[table.RowCount];
        Parallel.For(0, table.RowCount, row =>
        {
            if (!SmilesParser.TryParse(table.Smiles[row], out var molecule, out _) || molecule is null) return;
            features[row] = FeatureEncoding.Encode(featurizer, molecule, spec.Featurizer.Counts);
        });
        var valid = Enumerable.Range(0, table.RowCount).Where(r => features[r] is not null).ToArray();
        var tasks = checkpoint.Model.Tasks;
        // the run's precision (bf16 comes with the trunk); tf32 only where there is CUDA, a CPU computes such a checkpoint in fp32
        if (device.type == TorchSharp.DeviceType.CUDA) PrecisionMode.Apply(spec.Precision, device);
        var (trunk, heads) = checkpoint.Instantiate(device);
        using (trunk)
        using (heads)
        using (var x = DeviceFeatures.Create(features.Select(f => f ?? new SparseFeatures([], [])).ToArray(), valid, checkpoint.Model.FeatureSize, device))
        {
            var predictions = Inference.Predict(trunk, heads, x, tasks.Select(t => new TaskInfo(t.Name, t.Kind)).ToArray(),
                tasks.Select(t => new TargetScale(t.Mean, t.Std)).ToArray());
            var result = new PredictionRow[table.RowCount];
            for (var row = 0; row < table.RowCount; row++) result[row] = new PredictionRow(table.Smiles[row], table.LineNumbers[row], null);
            for (var i = 0; i < valid.Length; i++)
                result[valid[i]] = result[valid[i]] with { Values = predictions.AsSpan(i * tasks.Length, tasks.Length).ToArray() };
            return result;
        }
    }

    public static void WriteCsv(string path, Checkpoint checkpoint, IReadOnlyList<PredictionRow> rows)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new StreamWriter(path);
        writer.WriteLine(string.Join(',', new[] { "smiles", "valid" }.Concat(checkpoint.Model.Tasks.Select(t => Csv.Quote(t.Name)))));
        foreach (var row in rows)
        {
            var cells = row.Values is null
                ? Enumerable.Repeat("", checkpoint.Model.Tasks.Length)
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
