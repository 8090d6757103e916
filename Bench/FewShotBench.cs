using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh fewshot</c>: FS-Mol's evaluation of new tasks on a trained trunk. For each support size and draw,
/// every task gets a support set drawn stratified by label; heads for all tasks are fitted at once on them (what
/// <c>mtnn add-tasks</c> does, <see cref="HeadFitter"/>) and every other labelled molecule of each task is scored.
/// ΔAUPRC (average precision − fraction of positives) is averaged over tasks, then over draws.
/// </summary>
public static class FewShotBench
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "checkpoint of the pretrained model (…/checkpoint)", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "labels of the new tasks (wide or long CSV, .csv.gz)", Required = true };
        var supports = new Option<string>("--support") { Description = "support set sizes, comma-separated", DefaultValueFactory = _ => "16,32,64" };
        var draws = new Option<int>("--draws") { Description = "support sets drawn per task and size", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "seed of the draws", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        // FS-Mol's files label some molecules both active and inactive in one assay; such a cell has no label to draw
        // into a support set or score a query against, so by default it is left out (`error` refuses the file)
        var conflicts = new Option<string>("--label-conflicts") { Description = "long format: a molecule and task labelled with different values is left out (drop) or an error (error)", DefaultValueFactory = _ => "drop" };
        var tasks = new Option<string?>("--tasks") { Description = "only these tasks of --data, comma-separated (for example a few held apart to choose settings on)" };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("fewshot", "FS-Mol few-shot evaluation: ΔAUPRC of heads fitted on support sets of new tasks") { checkpoint, data, supports, draws, seed, device, conflicts, tasks, json };
        command.SetAction(parse =>
        {
            var sizes = parse.GetValue(supports)!.Split(',').Select(s => int.TryParse(s, out var n) && n >= 2 ? n : throw new ArgumentException($"--support: '{s}' is not a size ≥ 2")).ToArray();
            var drawCount = parse.GetValue(draws) >= 1 ? parse.GetValue(draws) : throw new ArgumentException("--draws must be ≥ 1");
            var onDevice = DeviceName.Parse(parse.GetValue(device)!);
            var clock = Stopwatch.StartNew();
            var (runSpec, featureSize, trunkParameters, pretrainingTasks) = ReadTrunk(parse.GetValue(checkpoint)!.FullName);
            var spec = runSpec with { Dataset = new DatasetSpec([parse.GetValue(data)!.FullName], runSpec.Dataset.SmilesColumn, parse.GetValue(tasks)?.Split(','), null, null,
                LabelConflicts: LongFormatOptions.ParseConflicts(parse.GetValue(conflicts)!)) };
            var prepared = PreparedDataset.Prepare(spec);
            var kinds = prepared.Tasks.Select(t => t.Kind).ToArray();
            if (kinds.Any(k => k != TaskKind.Classification)) throw new ArgumentException($"{prepared.Path}: few-shot ΔAUPRC needs classification tasks only");
            var all = TaskAdder.CellsOf(prepared);
            var byTask = Enumerable.Range(0, prepared.TaskCount).Select(t => Enumerable.Range(0, all.Count).Where(i => all.Tasks[i] == t).ToArray()).ToArray();
            var report = new BenchReport("fewshot");
            report.Note(BenchReport.Machine);
            report.Add("checkpoint", parse.GetValue(checkpoint)!.FullName);
            report.Add("pretraining_tasks", pretrainingTasks);
            report.Add("dataset", prepared.Path);
            report.Add("tasks", prepared.TaskCount);
            report.Add("molecules", prepared.RowCount);
            if (featureSize != prepared.FeatureSize) throw new ArgumentException($"{prepared.Path}: {prepared.FeatureSize} features, the trunk takes {featureSize}");
            using var trunk = new FingerprintTrunk(featureSize, runSpec.Model.Layers, runSpec.Seed, onDevice) { ComputeType = runSpec.Precision.TrunkComputeType() };
            trunk.Load(trunkParameters);
            using (var features = DeviceFeatures.Create(prepared.Features, Enumerable.Range(0, prepared.RowCount).ToArray(), prepared.FeatureSize, onDevice))
            using (var embeddings = trunk.Embed(features))
            using (var cpuEmbeddings = embeddings.cpu())
            {
                var hidden = (int)embeddings.shape[1];
                var e = cpuEmbeddings.data<float>().ToArray();
                report.Add("prepare_and_embed_seconds", clock.Elapsed.TotalSeconds);
                foreach (var size in sizes)
                {
                    var perDraw = new List<double>();
                    var scoredTasks = 0;
                    for (var draw = 0; draw < drawCount; draw++)
                    {
                        var random = new Random((int)SeededInit.Mix(parse.GetValue(seed), size, draw));
                        var support = new bool[all.Count];
                        var usable = new List<int>();
                        for (var t = 0; t < prepared.TaskCount; t++)
                        {
                            var picked = FewShot.DrawSupport(byTask[t].Select(i => all.Labels[i]).ToArray(), size, random);
                            if (picked is null) continue;
                            usable.Add(t);
                            foreach (var k in picked) support[byTask[t][k]] = true;
                        }
                        var cells = Enumerable.Range(0, all.Count).Where(i => support[i]).ToArray();
                        var (weight, bias, _) = HeadFitter.Fit(embeddings,
                            new SupportCells(cells.Select(i => all.Rows[i]).ToArray(), cells.Select(i => all.Tasks[i]).ToArray(), cells.Select(i => all.Labels[i]).ToArray()),
                            kinds, parse.GetValue(seed) + draw);
                        var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(weight.Bytes).ToArray();
                        var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bias.Bytes).ToArray();
                        var deltas = new List<double>();
                        foreach (var t in usable)
                        {
                            var query = byTask[t].Where(i => !support[i]).ToArray();
                            var scores = query.Select(i =>
                            {
                                double z = b[t];
                                for (var h = 0; h < hidden; h++) z += e[(long)all.Rows[i] * hidden + h] * w[h * prepared.TaskCount + t];
                                return (float)z;
                            }).ToArray();
                            deltas.Add(FewShot.DeltaAuprc(scores, query.Select(i => all.Labels[i]).ToArray()));
                        }
                        scoredTasks = Math.Max(scoredTasks, usable.Count);
                        perDraw.Add(deltas.Average());
                    }
                    var mean = perDraw.Average();
                    var std = Math.Sqrt(perDraw.Sum(d => (d - mean) * (d - mean)) / perDraw.Count);
                    report.Add($"support_{size}_delta_auprc", mean);
                    report.Add($"support_{size}_std_over_draws", std);
                    report.Add($"support_{size}_tasks_scored", scoredTasks);
                }
            }
            report.Add("seconds", clock.Elapsed.TotalSeconds);
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The trunk of a model checkpoint (<c>RUN/checkpoint</c>) or of a training checkpoint
    /// (<c>RUN/checkpoints/epoch-N</c>, its best trunk so far), so that a run still training can be evaluated.
    /// </summary>
    private static (RunSpec Spec, int FeatureSize, TensorData[] Trunk, int Tasks) ReadTrunk(string directory)
    {
        if (!File.Exists(Path.Combine(directory, "state.json")))
        {
            var model = Checkpoint.Read(directory);
            return (model.Model.Spec, model.Model.FeatureSize, model.Trunk, model.Model.Tasks.Length);
        }
        var training = TrainingCheckpoint.Read(directory);
        return (training.State.Spec, training.State.FeatureSize, training.Trunk.Best ?? training.Trunk.Parameters, training.State.TaskNames.Length);
    }
}
