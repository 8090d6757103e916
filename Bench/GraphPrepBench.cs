using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Chem;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh graph-prep</c>: what preparing a dataset's molecules costs for each trunk, measured on the same
/// SMILES in interleaved rounds: the fingerprint trunk's features (train's defaults: count ECFP4 and descriptor set
/// 2) against the graph trunk's graphs; and the bytes a molecule's graph takes on a worker (device and host), with
/// what a million molecules would take.
/// </summary>
public static class GraphPrepBench
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "CSV or .csv.gz with a smiles column (default: examples/fsmol-train.csv.gz)" };
        var rounds = new Option<int>("--rounds") { Description = "interleaved rounds (the best of each is reported)", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("graph-prep", "featurization time and memory per molecule: fingerprints against graphs") { data, rounds, json };
        command.SetAction(parse =>
        {
            var path = Path.GetFullPath(parse.GetValue(data) ?? Path.Combine(BenchOptions.RepoRoot, "examples", "fsmol-train.csv.gz"));
            if (!File.Exists(path)) throw new ArgumentException($"--data: {path} does not exist");
            // the molecules only: distinct SMILES in file order (a long-format file names a molecule once per task)
            var smiles = ReadSmiles(path);
            var report = new BenchReport("graph-prep");
            report.Note(BenchReport.Machine);
            report.Add("dataset", path);
            report.Add("molecules", smiles.Length);
            report.Add("threads", Environment.ProcessorCount);
            var fingerprintSpec = new FeaturizerSpec(2, 2048, true, CountScale.Log, Descriptors: true, DescriptorSet: MoleculeDescriptors.LatestSet);
            var graphSpec = new FeaturizerSpec(2, 2048, true, CountScale.Log, Fingerprint: false, GraphFeatures: GraphFeatures.Version);
            var (fingerprintSeconds, graphSeconds) = (double.MaxValue, double.MaxValue);
            FeaturizedMolecules? graphs = null;
            for (var round = 0; round < Math.Max(1, parse.GetValue(rounds)); round++)
            {
                var clock = Stopwatch.StartNew();
                FeatureEncoding.Featurize(smiles, fingerprintSpec);
                fingerprintSeconds = Math.Min(fingerprintSeconds, clock.Elapsed.TotalSeconds);
                clock.Restart();
                graphs = FeatureEncoding.Featurize(smiles, graphSpec);
                graphSeconds = Math.Min(graphSeconds, clock.Elapsed.TotalSeconds);
            }
            report.Add("fingerprint_features_seconds", fingerprintSeconds);
            report.Add("graph_seconds", graphSeconds);
            report.Add("graph_to_fingerprint_ratio", graphSeconds / fingerprintSeconds);

            var valid = graphs!.Valid();
            var molecules = valid.Select(i => graphs.Graphs![i]!).ToArray();
            var (atoms, bonds) = (molecules.Sum(g => (long)g.AtomCount), molecules.Sum(g => (long)g.BondCount));
            report.Add("atoms_per_molecule", (double)atoms / molecules.Length);
            report.Add("bonds_per_molecule", (double)bonds / molecules.Length);
            using var trunk = new GraphTrunk(3, 8, GraphReadout.Mean, 0, [4], 0, CPU);
            using var stored = (DeviceGraphs)trunk.Store(new MoleculeInputs(new SparseFeatures[molecules.Length], 0, molecules), Enumerable.Range(0, molecules.Length).ToArray(), CPU);
            var device = (double)stored.StoredBytes / molecules.Length;
            report.Add("device_bytes_per_molecule", device);
            report.Add("worker_host_bytes_per_molecule", stored.HostBytesPerRow);
            // the prepared dataset's own graphs (every worker holds them all): arrays and their object headers
            var prepared = molecules.Average(g => 4.0 * 24 + 16 + g.AtomColumns.Length + 4.0 * g.AtomMass.Length + 4.0 * g.BondAtoms.Length + g.BondColumns.Length);
            report.Add("dataset_bytes_per_molecule", prepared);
            report.Add("million_molecules_gb", 1e6 * (device + stored.HostBytesPerRow + prepared) / 1e9);
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static string[] ReadSmiles(string path) =>
        LabelFile.Read(path, new CsvReadOptions("smiles", Tasks: [])).Smiles.Distinct(StringComparer.Ordinal).ToArray();
}
