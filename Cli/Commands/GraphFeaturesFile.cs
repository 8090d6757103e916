using System.Globalization;
using System.Text;
using MtnnCluster.Chem;
using MtnnCluster.Data;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>mtnn featurize --graph</c>: each molecule's graph as the graph trunk reads it, one JSON object a line, for
/// other tools (the PyTorch reference reads it): <c>smiles</c>, <c>line</c>, <c>valid</c> and, when valid,
/// <c>atoms</c> (per atom the set columns of its 72 features, the mass column last with its value in
/// <c>mass</c>), <c>bonds</c> (both ends) and <c>bond_features</c> (per bond the set columns of its 14). The column
/// names are in the first line, an object with <c>atom_features</c> and <c>bond_features</c>.
/// </summary>
public static class GraphFeaturesFile
{
    public static int Write(SparseLabelTable table, string path)
    {
        var lines = new string[table.RowCount];
        var invalid = 0;
        Parallel.For(0, table.RowCount, row =>
        {
            var smiles = table.Smiles[row];
            var head = $"{{\"smiles\":{Json(smiles)},\"line\":{table.LineNumbers[row]}";
            if (!SmilesParser.TryParse(smiles, out var molecule, out var error) || molecule is null)
            {
                Interlocked.Increment(ref invalid);
                Console.Error.WriteLine($"warning: {table.Path}:{table.LineNumbers[row]}: invalid SMILES '{smiles}' ({error})");
                lines[row] = head + $",\"valid\":false,\"error\":{Json(error ?? "invalid SMILES")}}}";
                return;
            }
            var graph = GraphFeatures.Of(molecule);
            var text = new StringBuilder(head).Append(",\"valid\":true,\"atoms\":[");
            for (var a = 0; a < graph.AtomCount; a++)
                Columns(text.Append(a > 0 ? "," : ""), graph.AtomColumns.AsSpan(a * GraphFeatures.AtomColumnsPerAtom, GraphFeatures.AtomColumnsPerAtom));
            text.Append("],\"mass\":[").AppendJoin(',', graph.AtomMass.Select(m => m.ToString("R", CultureInfo.InvariantCulture))).Append("],\"bonds\":[");
            for (var b = 0; b < graph.BondCount; b++) text.Append(b > 0 ? "," : "").Append('[').Append(graph.BondAtoms[2 * b]).Append(',').Append(graph.BondAtoms[2 * b + 1]).Append(']');
            text.Append("],\"bond_features\":[");
            for (var b = 0; b < graph.BondCount; b++)
                Columns(text.Append(b > 0 ? "," : ""), graph.BondColumns.AsSpan(b * GraphFeatures.BondColumnsPerBond, GraphFeatures.BondColumnsPerBond));
            lines[row] = text.Append("]}").ToString();
        });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var names = $"{{\"version\":{GraphFeatures.Version},\"atom_features\":[{string.Join(',', GraphFeatures.AtomFeatureNames.Select(Json))}]," +
                    $"\"bond_features\":[{string.Join(',', GraphFeatures.BondFeatureNames.Select(Json))}]}}";
        File.WriteAllLines(path, lines.Prepend(names));
        return invalid;
    }

    private static void Columns(StringBuilder text, ReadOnlySpan<byte> columns)
    {
        text.Append('[');
        var first = true;
        foreach (var c in columns)
        {
            if (c == MoleculeGraph.NoColumn) continue;
            text.Append(first ? "" : ",").Append(c);
            first = false;
        }
        text.Append(']');
    }

    private static string Json(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
