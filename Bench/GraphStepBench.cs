using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Chem;
using MtnnCluster.Model;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh graph-step</c>: where a graph trunk's training step goes on this CPU, part by part: assembling the
/// batch (host index arrays, the device's feature expansion), the forward, the backward, the AdamW step; and how
/// many tensors a step creates (each a native call and a managed object in TorchSharp). Medians over steps after
/// warm-up, on real molecules (default: Tox21's), for a whole batch and for half of one (each of two workers' share).
/// </summary>
public static class GraphStepBench
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "CSV or .csv.gz with a smiles column (default: examples/tox21.csv)" };
        var batchSize = new Option<int>("--batch-size") { Description = "molecules per step", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("--depth") { Description = "message-passing steps", DefaultValueFactory = _ => 3 };
        var hidden = new Option<int>("--hidden-size") { Description = "bond and atom state width", DefaultValueFactory = _ => 300 };
        var steps = new Option<int>("--steps") { Description = "steps timed per part", DefaultValueFactory = _ => 30 };
        var threads = new Option<int>("--threads") { Description = "compute threads (0: libtorch's default)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("graph-step", "the parts of one graph-trunk training step on the CPU") { data, batchSize, depth, hidden, steps, threads, json };
        command.SetAction(parse =>
        {
            if (parse.GetValue(threads) > 0) set_num_threads(parse.GetValue(threads));
            var path = Path.GetFullPath(parse.GetValue(data) ?? Path.Combine(BenchOptions.RepoRoot, "examples", "tox21.csv"));
            var smiles = MtnnCluster.Data.LabelFile.Read(path, new MtnnCluster.Data.CsvReadOptions("smiles", Tasks: [])).Smiles;
            var graphs = smiles.Select(s => SmilesParser.TryParse(s, out var m, out _) && m is not null ? GraphFeatures.Of(m) : null).OfType<MoleculeGraph>().ToArray();
            var (rows, count) = (parse.GetValue(batchSize), parse.GetValue(steps));
            var report = new BenchReport("graph-step");
            report.Note(BenchReport.Machine);
            report.Note($"threads {get_num_threads()}, depth {parse.GetValue(depth)}, hidden {parse.GetValue(hidden)}, layers 300, batch {rows}, {graphs.Length} molecules of {path}");
            using var trunk = new GraphTrunk(parse.GetValue(depth), parse.GetValue(hidden), GraphReadout.Mean, 0, [300], 0, CPU);
            using var optimizer = new AdamW(trunk.Parameters, 1e-3, 1e-4);
            using var stored = (DeviceGraphs)trunk.Store(new MoleculeInputs(new SparseFeatures[graphs.Length], 0, graphs), Enumerable.Range(0, graphs.Length).ToArray(), CPU);
            var random = new Random(0);
            long[] Batch(int n) => Enumerable.Range(0, n).Select(_ => (long)random.Next(graphs.Length)).ToArray();
            foreach (var (name, batchRows) in new[] { ("batch", rows), ("half_batch", rows / 2) })
            {
                report.Add($"{name}_assemble_ms", StepBench.Median(count, () => { using var scope = NewDisposeScope(); stored.Assemble(Batch(batchRows)); }));
                report.Add($"{name}_forward_ms", StepBench.Median(count, () => { using var scope = NewDisposeScope(); trunk.Forward(stored, Batch(batchRows), null); }));
                report.Add($"{name}_forward_backward_ms", StepBench.Median(count, () =>
                {
                    using var scope = NewDisposeScope();
                    foreach (var p in trunk.Parameters) p.grad = null;
                    trunk.Forward(stored, Batch(batchRows), null).sum().backward();
                }));
            }
            report.Add("adamw_ms", StepBench.Median(count, () =>
            {
                using var scope = NewDisposeScope();
                optimizer.Step(trunk.Parameters.Select(p => zeros_like(p).add_(1e-3)).ToArray());
            }));
            using (var scope = NewDisposeScope())
            {
                foreach (var p in trunk.Parameters) p.grad = null;
                trunk.Forward(stored, Batch(rows), null).sum().backward();
                // what the step left to its scope: a tensor per op of the forward and of the calls around it
                report.Add("tensors_per_forward_backward", scope.DisposablesCount);
            }
            report.Add("parameters", trunk.Parameters.Sum(p => p.numel()));
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }
}
