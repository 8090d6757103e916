using System.Globalization;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Checkpoints;

/// <summary>One way a checkpoint does not fit: the field, the checkpoint's value and the run's (or the weights') value.</summary>
public sealed record CheckpointDifference(string Field, string CheckpointValue, string RunValue)
{
    public override string ToString() => $"{Field}: checkpoint {CheckpointValue}, run {RunValue}";
}

/// <summary>
/// Whether a checkpoint can be used for a run (resume, fine-tuning) or for inference, as a list of differences,
/// so that a refusal names every field that differs rather than the first. What the weights mean must match: the
/// data (fingerprint), the features, the tasks and their kinds, the split (else the test rows leak into training),
/// and the model's shape. Optimizer and schedule settings may change between a checkpoint and its continuation.
/// </summary>
public static class CheckpointCompatibility
{
    /// <summary>Differences between a checkpoint and a run about to use it on a prepared dataset.</summary>
    public static IReadOnlyList<CheckpointDifference> Compare(
        CheckpointModel checkpoint, RunSpec run, string datasetFingerprint, int featureSize, IReadOnlyList<TaskInfo> tasks) =>
        Compare(checkpoint.Spec, checkpoint.DatasetFingerprint, checkpoint.FeatureSize, checkpoint.Tasks.Select(t => t.Name).ToArray(),
            checkpoint.Tasks.Select(t => t.Kind).ToArray(), run, datasetFingerprint, featureSize, tasks);

    /// <summary>Differences between a training checkpoint and the run about to resume from it (task kinds follow from the data).</summary>
    public static IReadOnlyList<CheckpointDifference> Compare(
        TrainingState checkpoint, RunSpec run, string datasetFingerprint, int featureSize, IReadOnlyList<TaskInfo> tasks) =>
        Compare(checkpoint.Spec, checkpoint.DatasetFingerprint, checkpoint.FeatureSize, checkpoint.TaskNames, null, run, datasetFingerprint, featureSize, tasks);

    private static IReadOnlyList<CheckpointDifference> Compare(RunSpec saved, string savedFingerprint, int savedFeatureSize,
        IReadOnlyList<string> savedTasks, IReadOnlyList<TaskKind>? savedKinds, RunSpec run, string datasetFingerprint, int featureSize, IReadOnlyList<TaskInfo> tasks)
    {
        var differences = new List<CheckpointDifference>();
        void Check<T>(string field, T inCheckpoint, T inRun)
        {
            if (!EqualityComparer<T>.Default.Equals(inCheckpoint, inRun)) differences.Add(new(field, Show(inCheckpoint), Show(inRun)));
        }

        Check("dataset fingerprint (SHA-256)", savedFingerprint, datasetFingerprint);
        Check("smiles column", saved.Dataset.SmilesColumn, run.Dataset.SmilesColumn);
        Check("featurizer radius", saved.Featurizer.Radius, run.Featurizer.Radius);
        Check("featurizer bits", saved.Featurizer.Bits, run.Featurizer.Bits);
        Check("featurizer counts", saved.Featurizer.Counts, run.Featurizer.Counts);
        if (saved.Featurizer.Counts) Check("featurizer count scale", saved.Featurizer.CountScale, run.Featurizer.CountScale);
        Check("featurizer descriptors", saved.Featurizer.Descriptors, run.Featurizer.Descriptors);
        if (saved.Featurizer.Descriptors) Check("featurizer descriptor set", saved.Featurizer.DescriptorSet, run.Featurizer.DescriptorSet);
        Check("featurizer fingerprint", saved.Featurizer.Fingerprint, run.Featurizer.Fingerprint);
        Check("graph features version", saved.Featurizer.GraphFeatures, run.Featurizer.GraphFeatures);
        Check("feature size", savedFeatureSize, featureSize);
        Check("trunk", saved.Model.Trunk, run.Model.Trunk);
        Check("graph message passing", Show(saved.Model.Graph), Show(run.Model.Graph));
        Check("layers", Show(saved.Model.Layers), Show(run.Model.Layers));
        Check("tasks", Show(savedTasks), Show(tasks.Select(t => t.Name)));
        if (savedKinds is not null && savedTasks.SequenceEqual(tasks.Select(t => t.Name)))
            for (var i = 0; i < tasks.Count; i++) Check($"kind of task '{tasks[i].Name}'", savedKinds[i], tasks[i].Kind);
        Check("split", Show(saved.Split), Show(run.Split));
        return differences;
    }

    /// <summary>Differences between what model.json says and the shapes of the weights stored beside it.</summary>
    public static IReadOnlyList<CheckpointDifference> CompareWeights(Checkpoint checkpoint)
    {
        var model = checkpoint.Model;
        var differences = new List<CheckpointDifference>();
        if (model.FeatureSize != model.Spec.Featurizer.FeatureSize)
            differences.Add(new("feature size", Show(model.FeatureSize), $"{model.Spec.Featurizer.FeatureSize} (featurizer bits{(model.Spec.Featurizer.Descriptors ? " and descriptors" : "")})"));
        var layers = model.Spec.Model.Layers;
        if (model.Spec.Model.Trunk == TrunkKind.Graph) return CompareGraphWeights(checkpoint, differences);
        if (checkpoint.Trunk.Length != 2 * layers.Length)
        {
            differences.Add(new("trunk tensors", Show(checkpoint.Trunk.Length), $"{2 * layers.Length} for layers {Show(layers)}"));
            return differences;
        }
        var fanIn = model.FeatureSize;
        for (var layer = 0; layer < layers.Length; layer++)
        {
            ExpectShape(differences, FingerprintTrunk.ParameterName(2 * layer), checkpoint.Trunk[2 * layer], [fanIn, layers[layer]]);
            ExpectShape(differences, FingerprintTrunk.ParameterName(2 * layer + 1), checkpoint.Trunk[2 * layer + 1], [layers[layer]]);
            fanIn = layers[layer];
        }
        ExpectShape(differences, "heads.weight", checkpoint.HeadWeight, [fanIn, model.Tasks.Length]);
        ExpectShape(differences, "heads.bias", checkpoint.HeadBias, [model.Tasks.Length]);
        return differences;
    }

    /// <summary>A graph trunk's weights against the shapes a fresh one of the same spec has.</summary>
    private static IReadOnlyList<CheckpointDifference> CompareGraphWeights(Checkpoint checkpoint, List<CheckpointDifference> differences)
    {
        var model = checkpoint.Model;
        using var fresh = Trunks.Create(model.Spec, model.FeatureSize, TorchSharp.torch.CPU);
        var expected = fresh.Export();
        if (checkpoint.Trunk.Length != expected.Length)
        {
            differences.Add(new("trunk tensors", Show(checkpoint.Trunk.Length), $"{expected.Length} for {Trunks.Describe(model.Spec.Model, model.FeatureSize)}"));
            return differences;
        }
        for (var i = 0; i < expected.Length; i++) ExpectShape(differences, expected[i].Name, checkpoint.Trunk[i], expected[i].Shape);
        ExpectShape(differences, "heads.weight", checkpoint.HeadWeight, [model.Spec.Model.Layers[^1], model.Tasks.Length]);
        ExpectShape(differences, "heads.bias", checkpoint.HeadBias, [model.Tasks.Length]);
        return differences;
    }

    /// <summary>Throws, listing every difference, when there is any.</summary>
    public static void Require(IReadOnlyList<CheckpointDifference> differences, string checkpointPath, string purpose)
    {
        if (differences.Count > 0)
            throw new InvalidDataException(
                $"{checkpointPath}: the checkpoint does not fit {purpose}: {string.Join("; ", differences)}");
    }

    private static void ExpectShape(List<CheckpointDifference> differences, string name, TensorData tensor, int[] shape)
    {
        if (!tensor.Shape.SequenceEqual(shape) || tensor.ElementCount * sizeof(float) != tensor.Bytes.LongLength)
            differences.Add(new($"shape of {name}", $"{Show(tensor.Shape)} ({tensor.Bytes.LongLength} bytes)", Show(shape)));
    }

    private static string Show<T>(T value) => value switch
    {
        null => "none",
        string s => s,
        GraphSpec g => $"depth {g.Depth}, hidden {g.Hidden}, {g.Readout.ToString().ToLowerInvariant()} readout",
        SplitSpec s => string.Create(CultureInfo.InvariantCulture, $"{s.Kind.ToString().ToLowerInvariant()} seed {s.Seed} {s.Train:G4}/{s.Valid:G4}/{s.Test:G4}"),
        IEnumerable<int> values => $"[{string.Join(',', values)}]",
        IEnumerable<string> names => Shorten(string.Join(',', names)),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";
}
