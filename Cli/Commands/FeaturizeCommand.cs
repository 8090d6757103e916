using System.CommandLine;
using System.Globalization;
using System.Text;
using MtnnCluster.Chem;
using MtnnCluster.Data;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>mtnn featurize</c>: the features a model trains on, for other tools (scikit-learn, pandas): those of a trained
/// model (<c>--from-checkpoint</c>) or of the same featurizer options as <c>train</c> (the very option definitions and
/// the same resolution, so the two cannot differ), computed by the one featurize loop training uses.
/// </summary>
public static class FeaturizeCommand
{
    public static Command Create()
    {
        var options = new TrainOptions(); // train's own featurizer and data options: one definition, one meaning
        var fromCheckpoint = new Option<DirectoryInfo?>("--from-checkpoint")
        {
            Description = "a trained model (a run's --out directory or a checkpoint directory): its features, whatever the featurizer options say",
        };
        var format = new Option<string>("--format")
        {
            Description = "csv: smiles, error, then one column per feature (ecfp_N, then desc_NAME); svmlight: one line per row, 'index:value' of the non-zero features and the SMILES as a comment (sklearn.datasets.load_svmlight_file, zero-based)",
            DefaultValueFactory = _ => "csv",
        };
        var output = new Option<FileInfo>("--out") { Description = "the file to write", Required = true };
        var graph = new Option<bool>("--graph")
        {
            Description = "write each molecule's graph as the graph trunk reads it (its atoms' and bonds' feature columns, the bonds' ends), one JSON object a line, instead of the features",
        };
        var command = new Command("featurize", "write the features a model trains on (ECFP counts and descriptors) for every molecule of a CSV");
        // train's options, so that its own resolution (ToSpec) gives the featurizer; those that do not describe
        // features are hidden here, and refused when given
        options.AddTo(command);
        Option[] shown = [options.Data, options.SmilesColumn, options.LongFormat.TaskColumn, options.LongFormat.LabelColumn, options.LongFormat.LabelConflicts,
            options.Radius, options.Bits, options.Counts, options.CountScale, options.Descriptors, options.DescriptorSet, options.Trunk, options.MoleculeFeatures];
        var hidden = command.Options.Except(shown).ToArray();
        foreach (var option in hidden) option.Hidden = true;
        command.Options.Remove(options.Out); // featurize's --out is a file
        command.Options.Add(fromCheckpoint);
        command.Options.Add(format);
        command.Options.Add(graph);
        command.Options.Add(output);
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            if (hidden.FirstOrDefault(o => o != options.Out && parse.GetResult(o) is { Implicit: false }) is { } other)
                throw new ArgumentException($"{other.Name} is not a featurize option (it does not change the features)");
            var data = parse.GetValue(options.Data) ?? [];
            if (data.Length != 1) throw new ArgumentException($"--data: featurize reads one file (got {data.Length})");
            var kind = parse.GetValue(format)!.ToLowerInvariant() is "csv" or "svmlight" ? parse.GetValue(format)!.ToLowerInvariant()
                : throw new ArgumentException($"--format must be csv or svmlight (got '{parse.GetValue(format)}')");
            var outPath = parse.GetValue(output)!.FullName;
            if (Directory.Exists(outPath)) throw new ArgumentException($"--out: {outPath} is a directory; give the name of the file to write");
            if (parse.GetValue(graph))
            {
                if (parse.GetResult(format) is { Implicit: false }) throw new ArgumentException("--format applies to the features; --graph writes JSON lines");
                var graphPath = Path.GetFullPath(data[0]);
                InputFile.RequireRegularFile(graphPath, "--data");
                var graphTable = LabelFile.Read(graphPath, new CsvReadOptions(parse.GetValue(options.SmilesColumn)!, Tasks: [],
                    TaskColumn: parse.GetValue(options.LongFormat.TaskColumn), LabelColumn: parse.GetValue(options.LongFormat.LabelColumn),
                    LabelConflicts: LongFormatOptions.ParseConflicts(parse.GetValue(options.LongFormat.LabelConflicts)!)));
                var invalidGraphs = GraphFeaturesFile.Write(graphTable, outPath);
                Console.WriteLine($"wrote {graphTable.RowCount} graphs to {outPath} ({invalidGraphs} invalid SMILES)");
                return Task.FromResult(0);
            }
            FeaturizerSpec spec;
            if (parse.GetValue(fromCheckpoint) is { } model)
            {
                var given = new Option[] { options.Radius, options.Bits, options.Counts, options.CountScale, options.Descriptors, options.DescriptorSet }
                    .Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray();
                if (given.Length > 0) throw new ArgumentException($"--from-checkpoint: the model's featurizer decides; remove {string.Join(", ", given)}");
                var source = ModelSource.Load(model.FullName, "--from-checkpoint");
                spec = source.Single("--from-checkpoint").Model.Spec.Featurizer;
                Console.Error.WriteLine($"the features of {source.Description}");
            }
            else spec = options.ToSpec(parse).Featurizer; // as train resolves them, checks included
            var path = Path.GetFullPath(data[0]);
            InputFile.RequireRegularFile(path, "--data");
            var table = LabelFile.Read(path, new CsvReadOptions(parse.GetValue(options.SmilesColumn)!, Tasks: [],
                TaskColumn: parse.GetValue(options.LongFormat.TaskColumn), LabelColumn: parse.GetValue(options.LongFormat.LabelColumn),
                LabelConflicts: LongFormatOptions.ParseConflicts(parse.GetValue(options.LongFormat.LabelConflicts)!)));
            if (spec.FeatureSize == 0)
                throw new ArgumentException("the model reads molecular graphs alone (no molecule features): add --graph to write them");
            var molecules = FeatureEncoding.Featurize(table.Smiles, spec with { GraphFeatures = 0 });
            Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
            if (kind == "csv") WriteCsv(outPath, table.Smiles, molecules, spec);
            else WriteSvmLight(outPath, table.Smiles, molecules);
            var invalid = Enumerable.Range(0, table.RowCount).Where(r => molecules.Features[r] is null).ToArray();
            Console.WriteLine($"wrote {table.RowCount} rows × {spec.FeatureSize} features to {outPath}" +
                              (invalid.Length == 0 ? "" : $" ({invalid.Length} invalid SMILES without features: " +
                                  string.Join(", ", invalid.Take(3).Select(r => $"line {table.LineNumbers[r]} '{table.Smiles[r]}'")) + (invalid.Length > 3 ? ", …" : "") + ")"));
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The feature columns' names: ecfp_0 … then desc_NAME for the descriptors, in the model's input order.</summary>
    public static string[] FeatureNames(FeaturizerSpec spec) =>
    [
        .. Enumerable.Range(0, spec.FingerprintSize).Select(i => $"ecfp_{i}"),
        .. spec.Descriptors ? MoleculeDescriptors.Names(spec.DescriptorSet).Select(n => $"desc_{n}") : [],
    ];

    private static void WriteCsv(string path, IReadOnlyList<string> smiles, FeaturizedMolecules molecules, FeaturizerSpec spec)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine(string.Join(',', new[] { "smiles", "error" }.Concat(FeatureNames(spec)).Select(Csv.Quote)));
        var row = new string[spec.FeatureSize];
        for (var r = 0; r < smiles.Count; r++)
        {
            var line = new StringBuilder().Append(Csv.Quote(smiles[r])).Append(',').Append(Csv.Quote(molecules.Errors[r] ?? ""));
            if (molecules.Features[r] is { } features)
            {
                Array.Fill(row, "0");
                for (var k = 0; k < features.Indices.Length; k++) row[features.Indices[k]] = features.Values[k].ToString("G9", CultureInfo.InvariantCulture);
                foreach (var cell in row) line.Append(',').Append(cell);
            }
            else line.Append(',', spec.FeatureSize);
            writer.WriteLine(line);
        }
    }

    private static void WriteSvmLight(string path, IReadOnlyList<string> smiles, FeaturizedMolecules molecules)
    {
        using var writer = new StreamWriter(path);
        for (var r = 0; r < smiles.Count; r++)
        {
            var line = new StringBuilder("0"); // no target: 0 for every row, as load_svmlight_file needs one
            if (molecules.Features[r] is { } features)
                for (var k = 0; k < features.Indices.Length; k++)
                    line.Append(' ').Append(features.Indices[k]).Append(':').Append(features.Values[k].ToString("G9", CultureInfo.InvariantCulture));
            // the comment keeps the row's molecule (and why it has no features) beside it
            line.Append(" # ").Append(smiles[r].Replace('\n', ' ')).Append(molecules.Errors[r] is { } error ? $" invalid: {error.Replace('\n', ' ')}" : "");
            writer.WriteLine(line);
        }
    }
}
