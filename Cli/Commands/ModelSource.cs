using MtnnCluster.Checkpoints;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// What a <c>--checkpoint</c> names: a run's --out directory (its model is checkpoint/), an ensemble's (ensemble.json),
/// or a checkpoint directory itself; said in words, so that a user sees which model is used. A path that does not
/// exist and a directory that holds no model get different messages.
/// </summary>
public sealed record ModelSource(string Path, IReadOnlyList<Checkpoint> Models, string Description)
{
    private const string ManifestFile = "manifest.json"; // what Checkpoint.Write writes last

    public static ModelSource Load(string given, string option = "--checkpoint")
    {
        var full = System.IO.Path.GetFullPath(given);
        if (!Directory.Exists(full))
            throw new ArgumentException(File.Exists(full)
                ? $"{option}: {full} is a file; give a run's --out directory, an ensemble's, or a checkpoint directory"
                : $"{option}: {full} does not exist");
        if (Ensemble.IsIn(full))
        {
            var members = Ensemble.Read(full);
            return new ModelSource(full, members, $"the ensemble of {members.Length} members in {full} (their mean)");
        }
        if (File.Exists(System.IO.Path.Combine(full, ManifestFile)))
            return new ModelSource(full, [Verified(full)], $"the checkpoint {full}");
        var ofRun = System.IO.Path.Combine(full, "checkpoint");
        if (File.Exists(System.IO.Path.Combine(ofRun, ManifestFile)))
            return new ModelSource(ofRun, [Verified(ofRun)], $"the model of the run in {full} ({ofRun})");
        var seeds = Directory.Exists(full) ? Directory.GetDirectories(full, "seed-*").Select(System.IO.Path.GetFileName).Order().ToArray() : [];
        if (seeds.Length > 0)
            throw new ArgumentException($"{option}: {full} holds runs of --seeds ({string.Join(", ", seeds)}), each a model of its own: give one, such as {System.IO.Path.Combine(full, seeds[0]!)}");
        throw new ArgumentException($"{option}: {full} is not a model: it holds no checkpoint/ (a run's --out), no ensemble.json " +
                                    $"(the --out of train --ensemble) and no {ManifestFile} (a checkpoint directory)");
    }

    /// <summary>One model (add-tasks, featurize): an ensemble is refused naming its members.</summary>
    public Checkpoint Single(string option = "--checkpoint") => Models.Count == 1
        ? Models[0]
        : throw new ArgumentException($"{option}: {Path} is an ensemble of {Models.Count} members; give one of them (its member-N/checkpoint)");

    private static Checkpoint Verified(string directory)
    {
        var model = Checkpoint.Read(directory);
        CheckpointCompatibility.Require(CheckpointCompatibility.CompareWeights(model), directory, "its own model.json");
        return model;
    }
}
