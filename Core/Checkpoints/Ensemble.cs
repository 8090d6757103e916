using System.Text.Json;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Checkpoints;

/// <summary>
/// <c>ensemble.json</c>: the members of an ensemble as their checkpoint directories relative to the ensemble's
/// directory (so that it can be moved whole), the seed each was trained with and the split they share.
/// </summary>
public sealed record EnsembleModel(int FormatVersion, string[] Members, int[] Seeds, int SplitSeed);

/// <summary>
/// Models trained alike from different seeds, used as one: a prediction is the mean of the members' predictions
/// in the data's units (probabilities for classification tasks, values for regression tasks).
/// </summary>
public static class Ensemble
{
    public const string FileName = "ensemble.json";
    public const int CurrentFormat = 1;

    public static bool IsIn(string directory) => File.Exists(System.IO.Path.Combine(directory, FileName));

    public static void Write(string directory, EnsembleModel model)
    {
        var path = System.IO.Path.Combine(directory, FileName);
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(model, Checkpoint.Json));
    }

    /// <summary>
    /// The members of the ensemble in <paramref name="directory"/>, each checkpoint verified; members that disagree on
    /// what a prediction means (tasks, their kinds and scales' data, features) are refused, naming the member.
    /// </summary>
    public static Checkpoint[] Read(string directory)
    {
        var root = System.IO.Path.GetFullPath(directory);
        var path = System.IO.Path.Combine(root, FileName);
        EnsembleModel? model;
        try { model = JsonSerializer.Deserialize<EnsembleModel>(File.ReadAllBytes(path), Checkpoint.Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid {FileName}: {e.Message}"); }
        if (model is null || model.Members is not { Length: > 0 }) throw new InvalidDataException($"{path}: lists no member");
        if (model.FormatVersion != CurrentFormat) throw new InvalidDataException($"{path}: ensemble format {model.FormatVersion}, this build reads {CurrentFormat}");
        var members = model.Members.Select(member =>
        {
            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(root, member));
            // a member lives inside the ensemble's directory: ensemble.json never points elsewhere on the disk
            if (System.IO.Path.IsPathRooted(member) || !full.StartsWith(root + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"{path}: member '{member}' is not a directory inside {root}");
            var checkpoint = Checkpoint.Read(full);
            CheckpointCompatibility.Require(CheckpointCompatibility.CompareWeights(checkpoint), full, "its own model.json");
            return checkpoint;
        }).ToArray();
        var first = members[0].Model;
        for (var k = 1; k < members.Length; k++)
        {
            var other = members[k].Model;
            if (!other.Tasks.Select(t => (t.Name, t.Kind)).SequenceEqual(first.Tasks.Select(t => (t.Name, t.Kind))) || other.Spec.Featurizer != first.Spec.Featurizer
                || other.FeatureSize != first.FeatureSize || other.DatasetFingerprint != first.DatasetFingerprint)
                throw new InvalidDataException($"{path}: member '{model.Members[k]}' was not trained like '{model.Members[0]}' (tasks, features or data differ)");
        }
        return members;
    }

    /// <summary>
    /// The members' mean prediction [rows × columns] for <paramref name="rows"/> of <paramref name="features"/>, task
    /// columns <paramref name="taskColumns"/> (null: all), in the data's units. One member: its own predictions, unchanged.
    /// </summary>
    public static float[] Predict(IReadOnlyList<Checkpoint> members, MoleculeInputs features, IReadOnlyList<int> rows, Device device, int[]? taskColumns = null)
    {
        var columns = taskColumns ?? Enumerable.Range(0, members[0].Model.Tasks.Length).ToArray();
        var result = new float[rows.Count * columns.Length];
        foreach (var (start, chunk) in PredictChunks(members, features, rows, device, columns))
            chunk.CopyTo(result, start * columns.Length);
        return result;
    }

    /// <summary>
    /// Scores of the members' mean predictions on one split of the dataset they were trained on, per task, as a
    /// run scores its own model (labelled cells only, in the data's units).
    /// </summary>
    public static TaskMetrics[] Score(IReadOnlyList<Checkpoint> members, PreparedDataset data, Split split, Device device)
    {
        var tasks = data.Tasks;
        var predictions = tasks.Select(_ => new List<float>()).ToArray();
        var truth = tasks.Select(_ => new List<float>()).ToArray();
        var rows = data.Split.Rows(split);
        var columns = Enumerable.Range(0, tasks.Length).ToArray();
        // a chunk of rows at a time, so that [rows × tasks] is never held for thousands of tasks
        foreach (var (start, chunk) in PredictChunks(members, data.Inputs, rows, device, columns))
            for (var i = 0; i < chunk.Length / tasks.Length; i++)
            {
                var row = rows[start + i];
                var rowTasks = data.Labels.TasksOf(row);
                var values = data.Labels.ValuesOf(row);
                for (var c = 0; c < rowTasks.Length; c++)
                {
                    predictions[rowTasks[c]].Add(chunk[i * tasks.Length + rowTasks[c]]);
                    truth[rowTasks[c]].Add(values[c]);
                }
            }
        return tasks.Select((t, j) => TaskMetrics.Compute(t.Name, t.Kind, split, predictions[j].ToArray(), truth[j].ToArray())).ToArray();
    }

    private static IEnumerable<(int Start, float[] Mean)> PredictChunks(IReadOnlyList<Checkpoint> members, MoleculeInputs features,
        IReadOnlyList<int> rows, Device device, int[] columns)
    {
        // the run's precision (bf16 comes with the trunk); tf32 only where there is CUDA, a CPU computes such a checkpoint in fp32
        if (device.type == TorchSharp.DeviceType.CUDA) PrecisionMode.Apply(members[0].Model.Spec.Precision, device);
        var models = new List<(ITrunk Trunk, HeadBlock Heads, TaskInfo[] Tasks, TargetScale[] Scales)>();
        try
        {
            using (var pick = tensor(columns.Select(j => (long)j).ToArray()).to(device))
                foreach (var member in members)
                {
                    var (trunk, all) = member.Instantiate(device);
                    using (all)
                    {
                        var tasks = columns.Select(j => member.Model.Tasks[j]).ToArray();
                        models.Add((trunk, new HeadBlock(columns, all.Weight.index_select(1, pick), all.Bias.index_select(0, pick)),
                            tasks.Select(t => new TaskInfo(t.Name, t.Kind)).ToArray(), tasks.Select(t => new TargetScale(t.Mean, t.Std)).ToArray()));
                    }
                }
            for (var start = 0; start < rows.Count; start += Inference.ChunkRows)
            {
                var length = Math.Min(Inference.ChunkRows, rows.Count - start);
                var sum = new double[length * columns.Length];
                using (var x = models[0].Trunk.Store(features, rows.Skip(start).Take(length).ToArray(), device))
                    foreach (var (trunk, heads, tasks, scales) in models)
                    {
                        var predicted = Inference.Predict(trunk, heads, x, tasks, scales);
                        for (var i = 0; i < sum.Length; i++) sum[i] += predicted[i];
                    }
                yield return (start, sum.Select(s => (float)(s / models.Count)).ToArray());
            }
        }
        finally
        {
            foreach (var (trunk, heads, _, _) in models)
            {
                trunk.Dispose();
                heads.Dispose();
            }
        }
    }
}
