using MtnnCluster.Checkpoints;

namespace MtnnCluster.Training.Run;

/// <summary>
/// The run as of an epoch end: everything needed to go on from <see cref="NextEpoch"/> with any set of workers
/// (trunk and its optimizer, every head with its moments, early stopping, history), and the seconds the run had
/// taken by then over all its coordinators. Trunk and heads are null before the first epoch end: nothing has trained
/// yet, and every worker starts them from the run's seed.
/// </summary>
public sealed record RunSnapshot(int NextEpoch, TrunkState? Trunk, HeadStore? Heads, HeadStore? BestHeads, int BestEpoch, double BestScore, EpochReport[] History,
    double ElapsedSeconds)
{
    /// <summary>Whether a training checkpoint of this snapshot is on disk.</summary>
    public bool OnDisk { get; set; }

    public int CompletedEpochs => NextEpoch - 1;

    /// <summary>What a resumed run goes on from.</summary>
    public static RunSnapshot Of(TrainingCheckpoint checkpoint)
    {
        var state = checkpoint.State;
        return new RunSnapshot(state.NextEpoch, checkpoint.Trunk, checkpoint.Heads, checkpoint.BestHeads, state.BestEpoch, state.BestScore, [.. state.History], state.ElapsedSeconds) { OnDisk = true };
    }

    /// <summary>The training checkpoint of this snapshot, or null before any head has trained.</summary>
    public TrainingCheckpoint? ToCheckpoint(string runId, RunSpec spec, PreparedDataset data, IReadOnlyList<RunEvent> events, IReadOnlyDictionary<string, int[]> assignment)
    {
        if (Heads is null || BestHeads is null || Trunk is null) return null;
        var state = new TrainingState(TrainingCheckpoint.CurrentFormat, runId, spec, data.FeatureSize, data.Fingerprint,
            data.Tasks.Select(t => t.Name).ToArray(), CompletedEpochs, NextEpoch,
            NextEpoch <= spec.Schedule.Epochs ? spec.PhaseOf(NextEpoch) : null,
            Trunk.Version, Trunk.BestVersion, Trunk.OptimizerSteps, Heads.OptimizerSteps,
            BestEpoch, BestScore, History, [.. events], assignment, spec.Seed, DateTimeOffset.UtcNow, ElapsedSeconds);
        return new TrainingCheckpoint(state, Trunk, Heads, BestHeads);
    }
}
