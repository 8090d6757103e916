namespace MtnnCluster.Training.Run;

/// <summary>The steps one round covers: <see cref="Count"/> steps from <see cref="Step"/>, run by the workers among themselves.</summary>
public readonly record struct StepRound(int Step, int Count)
{
    public int End => Step + Count;
}

/// <summary>
/// The schedule of a run as plain decisions: what each epoch updates, how its batches group into synchronous
/// rounds, and the one stop rule (the epoch budget, or early stopping's patience). The coordinator executes them.
/// </summary>
public sealed class RunSchedule
{
    private readonly RunSpec _spec;

    /// <param name="trainRows">All training rows: a trunk-updating epoch takes one step per --batch-size of them.</param>
    public RunSchedule(RunSpec spec, int trainRows)
    {
        _spec = spec;
        StepsPerEpoch = StepsFor(trainRows, spec.Optimizer.BatchSize);
    }

    /// <summary>Steps of an epoch over <paramref name="trainRows"/> rows: one per batch of <paramref name="batchSize"/>, at least one.</summary>
    public static int StepsFor(int trainRows, int batchSize) => Math.Max(1, (trainRows + batchSize - 1) / batchSize);

    public int Epochs => _spec.Schedule.Epochs;
    public int StepsPerEpoch { get; }

    public EpochPhase PhaseOf(int epoch) => _spec.PhaseOf(epoch);

    /// <summary>Rounds a trunk-updating epoch is cut into, for progress: the coordinator hears from the workers this often.</summary>
    public const int RoundsPerEpoch = 8;

    /// <summary>
    /// The rounds of a trunk-updating epoch, in order: about <see cref="RoundsPerEpoch"/>, each a whole number of
    /// --sync-every blocks (local SGD averages inside a round, never across two). A head-only epoch is one round.
    /// </summary>
    public IReadOnlyList<StepRound> Rounds()
    {
        var every = _spec.Schedule.SyncEvery;
        var size = Math.Max(1, (StepsPerEpoch + RoundsPerEpoch * every - 1) / (RoundsPerEpoch * every)) * every;
        var rounds = new List<StepRound>();
        for (var step = 0; step < StepsPerEpoch; step += size) rounds.Add(new StepRound(step, Math.Min(size, StepsPerEpoch - step)));
        return rounds;
    }

    /// <summary>The stop rule: after <paramref name="lastEpoch"/> (0: none yet), with the best epoch so far.</summary>
    public bool IsOver(int lastEpoch, int bestEpoch)
    {
        var patience = _spec.Schedule.Patience;
        return lastEpoch >= Epochs || (lastEpoch > 0 && patience > 0 && lastEpoch - bestEpoch >= patience);
    }

    /// <summary>The epoch to train next, or null when the run is over.</summary>
    public int? NextEpoch(int lastEpoch, int bestEpoch) => IsOver(lastEpoch, bestEpoch) ? null : lastEpoch + 1;

    /// <summary>Whether the end of <paramref name="epoch"/> writes a training checkpoint: every N epochs, and the last.</summary>
    public bool CheckpointAfter(int epoch, int bestEpoch, int every) => epoch % every == 0 || IsOver(epoch, bestEpoch);
}
