using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MtnnCluster.Chem;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh graph-features --smiles FILE [--dump OUT]</c>: times <see cref="GraphFeatures.Of"/> on every molecule
/// of a CSV (first column SMILES, one header line) and can write each molecule's columns as JSON lines, the input of
/// Bench/graph_features_rdkit.py, which compares them with RDKit's.
/// </summary>
public static class GraphFeaturesBench
{
    public static Command Create()
    {
        var smiles = new Option<string>("--smiles") { Description = "CSV whose first column is SMILES (header line skipped)", Required = true };
        var dump = new Option<string?>("--dump") { Description = "write one JSON line of columns per molecule here" };
        var rounds = new Option<int>("--rounds") { Description = "timed passes over the molecules, parsing and featurizing (the best of each is reported)", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("graph-features", "time GraphFeatures.Of on a SMILES file and optionally dump its columns") { smiles, dump, rounds, json };
        command.SetAction(parse =>
        {
            var lines = File.ReadLines(parse.GetValue(smiles)!).Skip(1).Select(l => l.Split(',')[0]).ToList();
            var molecules = new Molecule?[lines.Count];
            var parseBest = double.MaxValue;
            for (var round = 0; round < Math.Max(1, parse.GetValue(rounds)); round++)
            {
                var parseClock = Stopwatch.StartNew();
                for (var i = 0; i < lines.Count; i++)
                {
                    molecules[i] = SmilesParser.TryParse(lines[i], out var m, out _) ? m : null;
                }
                parseBest = Math.Min(parseBest, parseClock.Elapsed.TotalSeconds);
            }
            var parsed = molecules.Where(m => m is not null).Select(m => m!).ToArray();

            var best = double.MaxValue;
            long atoms = 0;
            for (var round = 0; round < Math.Max(1, parse.GetValue(rounds)); round++)
            {
                atoms = 0;
                var clock = Stopwatch.StartNew();
                foreach (var m in parsed)
                {
                    atoms += GraphFeatures.Of(m).AtomCount;
                }
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }

            if (parse.GetValue(dump) is { } path)
            {
                using var writer = new StreamWriter(path);
                for (var i = 0; i < molecules.Length; i++)
                {
                    writer.WriteLine(molecules[i] is { } m ? Line(i, GraphFeatures.Of(m)) : $"{{\"i\":{i},\"error\":true}}");
                }
            }

            var report = new BenchReport("graph-features");
            report.Note(BenchReport.Machine);
            report.Add("molecules", lines.Count);
            report.Add("parsed", parsed.Length);
            report.Add("atoms", atoms);
            report.Add("parse_ms_per_1000_molecules", parseBest * 1e6 / lines.Count);
            report.Add("featurize_seconds_best", best);
            report.Add("featurize_ms_per_1000_molecules", best * 1e6 / parsed.Length);
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static string Line(int index, MoleculeGraph g)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{{\"i\":{index},\"atoms\":[");
        for (var a = 0; a < g.AtomCount; a++)
        {
            text.Append(a == 0 ? "[" : ",[");
            for (var k = 0; k < GraphFeatures.AtomColumnsPerAtom; k++)
            {
                var column = g.AtomColumns[a * GraphFeatures.AtomColumnsPerAtom + k];
                text.Append(CultureInfo.InvariantCulture, $"{(column == MoleculeGraph.NoColumn ? -1 : column)},");
            }
            text.Append(g.AtomMass[a].ToString("R", CultureInfo.InvariantCulture)).Append(']');
        }
        text.Append("],\"bonds\":[");
        for (var b = 0; b < g.BondCount; b++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{(b == 0 ? "" : ",")}[{g.BondAtoms[2 * b]},{g.BondAtoms[2 * b + 1]}");
            for (var k = 0; k < GraphFeatures.BondColumnsPerBond; k++)
            {
                var column = g.BondColumns[b * GraphFeatures.BondColumnsPerBond + k];
                text.Append(CultureInfo.InvariantCulture, $",{(column == MoleculeGraph.NoColumn ? -1 : column)}");
            }
            text.Append(']');
        }
        return text.Append("]}").ToString();
    }
}
