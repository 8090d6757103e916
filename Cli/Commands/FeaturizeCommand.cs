using System.CommandLine;
using MtnnCluster.Chem;
using MtnnCluster.Data;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn featurize</c>: ECFP fingerprints of a CSV's molecules, for inspection or other tools.</summary>
public static class FeaturizeCommand
{
    public static Command Create()
    {
        var data = new Option<FileInfo>("--data") { Description = "CSV (or .csv.gz) with a SMILES column", Required = true };
        var smilesColumn = new Option<string>("--smiles-column") { Description = "SMILES column", DefaultValueFactory = _ => "smiles" };
        var radius = new Option<int>("--radius") { Description = "ECFP radius (2 = ECFP4)", DefaultValueFactory = _ => 2 };
        var bits = new Option<int>("--bits") { Description = "fingerprint length", DefaultValueFactory = _ => 2048 };
        var longColumns = new LongFormatOptions();
        var output = new Option<FileInfo>("--out") { Description = "CSV: smiles,valid,heavy_atoms,unique_environments,bits; with --graph, JSON lines", Required = true };
        var graph = new Option<bool>("--graph") { Description = "write each molecule's graph as the graph trunk reads it (atoms' and bonds' feature columns, bonds' ends), one JSON object a line" };
        var command = new Command("featurize", "write the ECFP fingerprint (or, with --graph, the molecular graph) of every molecule") { data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, radius, bits, graph, output };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var r = parse.GetValue(radius);
            var n = parse.GetValue(bits);
            if (r is < 0 or > 6) throw new ArgumentException($"--radius must be 0..6 (got {r})");
            if (n is < 8 or > 1 << 20) throw new ArgumentException($"--bits must be 8..1048576 (got {n})");
            var table = LabelFile.Read(parse.GetValue(data)!.FullName, new CsvReadOptions(parse.GetValue(smilesColumn)!, Tasks: [],
                TaskColumn: parse.GetValue(longColumns.TaskColumn), LabelColumn: parse.GetValue(longColumns.LabelColumn)));
            if (parse.GetValue(graph))
            {
                var invalidGraphs = GraphFeaturesFile.Write(table, parse.GetValue(output)!.FullName);
                Console.WriteLine($"wrote {table.RowCount} graphs to {parse.GetValue(output)!.FullName} ({invalidGraphs} invalid SMILES)");
                return Task.FromResult(0);
            }
            var featurizer = new EcfpFeaturizer(r, n);
            var lines = new string[table.RowCount];
            var invalid = 0;
            Parallel.For(0, table.RowCount, row =>
            {
                var smiles = table.Smiles[row];
                if (!SmilesParser.TryParse(smiles, out var molecule, out var error) || molecule is null)
                {
                    Interlocked.Increment(ref invalid);
                    Console.Error.WriteLine($"warning: {table.Path}:{table.LineNumbers[row]}: invalid SMILES '{smiles}' ({error})");
                    lines[row] = $"{Csv.Quote(smiles)},false,,,";
                    return;
                }
                lines[row] = $"{Csv.Quote(smiles)},true,{molecule.HeavyAtomCount},{featurizer.Environments(molecule).Count},{string.Join(' ', featurizer.SetBits(molecule))}";
            });
            var path = parse.GetValue(output)!.FullName;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllLines(path, lines.Prepend("smiles,valid,heavy_atoms,unique_environments,bits"));
            Console.WriteLine($"wrote {table.RowCount} rows to {path} ({invalid} invalid SMILES)");
            return Task.FromResult(0);
        }));
        return command;
    }
}
