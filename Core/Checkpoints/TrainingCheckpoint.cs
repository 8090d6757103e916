using System.Text.Json;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Checkpoints;

/// <summary>How often training checkpoints are written (every <see cref="Every"/> epochs, and at the end) and how many are kept.</summary>
public sealed record CheckpointPolicy(int Every = 1, int Keep = 3)
{
    public void Validate()
    {
        if (Every < 1) throw new ArgumentException($"--checkpoint-every must be ≥ 1 (got {Every})");
        if (Keep < 1) throw new ArgumentException($"--keep-checkpoints must be ≥ 1 (got {Keep})");
    }
}

/// <summary>
/// The readable part of a training checkpoint (state.json): the run, where the schedule stands, early stopping,
/// history and events, the task assignment, and how random state is derived. Shuffles, dropout masks and head
/// initialisation are seeded by (seed, epoch, task), so the schedule position and the seed restore them.
/// <see cref="ElapsedSeconds"/>: the run's seconds up to this epoch end, over all its coordinators (a resumed run adds
/// its own; 0 in a checkpoint written before it was kept).
/// </summary>
public sealed record TrainingState(
    int FormatVersion,
    string RunId,
    RunSpec Spec,
    int FeatureSize,
    string DatasetFingerprint,
    string[] TaskNames,
    int CompletedEpochs,
    int NextEpoch,
    EpochPhase? NextPhase,
    long TrunkVersion,
    long? BestTrunkVersion,
    long TrunkOptimizerSteps,
    long HeadOptimizerSteps,
    int BestEpoch,
    double BestScore,
    IReadOnlyList<EpochReport> History,
    IReadOnlyList<RunEvent> Events,
    IReadOnlyDictionary<string, int[]> Assignment,
    int RandomSeed,
    DateTimeOffset Created,
    double ElapsedSeconds = 0);

/// <summary>Where a training checkpoint went, and the older ones removed first to make room for it.</summary>
public sealed record CheckpointWritten(string Directory, IReadOnlyList<string> Removed);

/// <summary>
/// A training checkpoint: <c>state.json</c>, <c>trunk.safetensors</c> (parameters, AdamW moments, the best trunk so
/// far), <c>heads.safetensors</c> (every task's head with its moments, and the best heads), <c>manifest.json</c>
/// (SHA-256 of each). Lives in <c>OUT/checkpoints/epoch-NNNNNN/</c>; the last K are kept.
/// </summary>
public sealed record TrainingCheckpoint(TrainingState State, TrunkState Trunk, HeadStore Heads, HeadStore BestHeads)
{
    public const int CurrentFormat = 2; // 2: tensors in safetensors files (1: the wire encoding)
    public const string DirectoryName = "checkpoints";
    private const string StateFile = "state.json", TrunkFile = "trunk.safetensors", HeadsFile = "heads.safetensors", Prefix = "epoch-";

    /// <summary>
    /// Writes this checkpoint under <paramref name="checkpoints"/> and removes all but the newest <paramref name="keep"/>.
    /// Old ones are normally removed only after the new one is in place; but when the disk is full, waiting for that
    /// would stop checkpointing for the rest of the run, so every checkpoint older than the newest one that verifies
    /// is removed first (with leftovers of interrupted writes) and the write is tried once more. The newest good
    /// checkpoint is never removed, and nothing is when none verifies.
    /// </summary>
    public CheckpointWritten Write(string checkpoints, int keep)
    {
        var directory = Path.Combine(checkpoints, $"{Prefix}{State.CompletedEpochs:D6}");
        var trunk = Trunk.Parameters.Concat(Trunk.Moments).Concat(Trunk.Best ?? []).ToArray();
        var files = new Dictionary<string, byte[]>
        {
            [StateFile] = JsonSerializer.SerializeToUtf8Bytes(State, Checkpoint.Json),
            [TrunkFile] = TensorFile.Serialize(trunk),
            [HeadsFile] = TensorFile.Serialize([.. Heads.ToTensors(), .. BestHeads.ToTensors()]),
        };
        IReadOnlyList<string> removed = [];
        try
        {
            ChecksummedDirectory.Write(directory, files);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            removed = MakeRoom(checkpoints);
            if (removed.Count == 0) throw;
            ChecksummedDirectory.Write(directory, files);
        }
        foreach (var old in List(checkpoints).Skip(keep)) Directory.Delete(old, recursive: true);
        return new CheckpointWritten(directory, removed);
    }

    /// <summary>Removes every checkpoint older than the newest that verifies, and temporary directories of interrupted writes (one run per directory: none is in progress).</summary>
    private static IReadOnlyList<string> MakeRoom(string checkpoints)
    {
        var all = List(checkpoints);
        var newestGood = all.Select((d, i) => (Directory: d, Index: i)).FirstOrDefault(c => Verifies(c.Directory));
        if (newestGood.Directory is null) return [];
        var removed = all.Skip(newestGood.Index + 1)
            .Concat(Directory.GetDirectories(checkpoints, $".{Prefix}*.tmp-*"))
            .ToArray();
        foreach (var old in removed) Directory.Delete(old, recursive: true);
        return removed;
    }

    private static bool Verifies(string directory)
    {
        try
        {
            Read(directory);
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return false;
        }
    }

    /// <summary>Checkpoint directories under <paramref name="checkpoints"/>, newest first.</summary>
    public static IReadOnlyList<string> List(string checkpoints) =>
        Directory.Exists(checkpoints)
            ? Directory.GetDirectories(checkpoints, $"{Prefix}*").Where(d => int.TryParse(Path.GetFileName(d)[Prefix.Length..], out _))
                .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>Reads and verifies one checkpoint; any damage is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static TrainingCheckpoint Read(string directory)
    {
        try
        {
            // the format first: an older checkpoint names its tensor files differently, and should say so
            var state = JsonSerializer.Deserialize<TrainingState>(ChecksummedDirectory.Read(directory, [StateFile])[StateFile], Checkpoint.Json)
                        ?? throw new InvalidDataException($"{directory}/{StateFile}: empty");
            if (state.FormatVersion != CurrentFormat)
                throw new InvalidDataException($"{directory}: training checkpoint format {state.FormatVersion}, this build reads {CurrentFormat}");
            var files = ChecksummedDirectory.Read(directory, [TrunkFile, HeadsFile]);
            var parameters = 2 * state.Spec.Model.Layers.Length;
            var trunk = TensorFile.Deserialize(files[TrunkFile], $"{directory}/{TrunkFile}");
            if (trunk.Length != 3 * parameters && trunk.Length != 4 * parameters)
                throw new InvalidDataException($"{directory}/{TrunkFile}: {trunk.Length} tensors for {state.Spec.Model.Layers.Length} layers");
            var heads = TensorFile.Deserialize(files[HeadsFile], $"{directory}/{HeadsFile}");
            // 14: heads and best heads with per-head step counts; 12: written before heads counted their own steps
            if (heads.Length is not (12 or 14)) throw new InvalidDataException($"{directory}/{HeadsFile}: {heads.Length} tensors, 14 (or 12) expected");
            var half = heads.Length / 2;
            var store = HeadStore.FromTensors(heads[..half], state.HeadOptimizerSteps);
            if (store.TaskCount != state.TaskNames.Length)
                throw new InvalidDataException($"{directory}/{HeadsFile}: heads for {store.TaskCount} tasks, the run has {state.TaskNames.Length}");
            return new TrainingCheckpoint(state,
                new TrunkState(trunk[..parameters], trunk[parameters..(3 * parameters)], state.TrunkOptimizerSteps, state.TrunkVersion,
                    trunk.Length == 4 * parameters ? trunk[(3 * parameters)..] : null, state.BestTrunkVersion),
                store, HeadStore.FromTensors(heads[half..], 0));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{directory}: unreadable training checkpoint ({e.Message})", e);
        }
    }

    /// <summary>
    /// The newest checkpoint that verifies. A damaged one is skipped with a warning naming it and the reason, and
    /// the one before it is tried; null when there is none at all, an error when all are damaged.
    /// </summary>
    public static (TrainingCheckpoint Checkpoint, string Directory)? LoadLatest(string checkpoints, Action<string> warn)
    {
        var candidates = List(checkpoints);
        if (candidates.Count == 0) return null;
        var problems = new List<string>();
        foreach (var directory in candidates)
        {
            try
            {
                var checkpoint = Read(directory);
                if (problems.Count > 0) warn($"resuming from the older checkpoint {directory}");
                return (checkpoint, directory);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                problems.Add(e.Message);
                warn($"checkpoint {directory} is damaged and skipped: {e.Message}");
            }
        }
        throw new InvalidDataException($"{checkpoints}: no checkpoint can be read ({string.Join("; ", problems)})");
    }
}
