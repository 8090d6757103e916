namespace MtnnCluster.Training.Run;

/// <summary>What to do when a suspected worker's grace ends.</summary>
public enum SuspicionVerdict
{
    /// <summary>No longer suspected (it came back, or was already handled): nothing to do.</summary>
    Cleared,
    /// <summary>The grace is not over yet (the check came early): check again after <see cref="Suspicions.Remaining"/>.</summary>
    Waiting,
    /// <summary>Unreachable for the whole grace: the worker is lost, its tasks move.</summary>
    Lost,
}

/// <summary>
/// Unreachable workers still within their grace. The failure detector also fires for a node that is only starved
/// (data loading, a GC pause, a busy host) and answers again a moment later; moving its tasks on that suspicion
/// leaves them unevenly split and changes the run's model. So a suspicion becomes a loss only once it has lasted
/// <see cref="Grace"/> (the coordinator uses the failure detector's acceptable heartbeat pause); a removal or a
/// departure is final at once and is not the business of this class.
/// </summary>
public sealed class Suspicions(TimeSpan grace)
{
    private readonly Dictionary<string, DateTimeOffset> _since = new(StringComparer.Ordinal);

    public TimeSpan Grace => grace;

    /// <summary>The worker became unreachable: true when this starts its grace, false when it is already suspected.</summary>
    public bool Suspected(string worker, DateTimeOffset now) => _since.TryAdd(worker, now);

    /// <summary>Reachable again, or gone for certain: true when it was within its grace (so nothing moved for it).</summary>
    public bool Cleared(string worker) => _since.Remove(worker);

    public bool IsSuspected(string worker) => _since.ContainsKey(worker);

    /// <summary>How long until <paramref name="worker"/>'s grace ends (zero when it has ended; zero too when not suspected).</summary>
    public TimeSpan Remaining(string worker, DateTimeOffset now) =>
        _since.TryGetValue(worker, out var since) && since + grace > now ? since + grace - now : TimeSpan.Zero;

    /// <summary>The grace check: a worker still unreachable when its grace is over is lost (and forgotten here).</summary>
    public SuspicionVerdict Check(string worker, DateTimeOffset now)
    {
        if (!_since.ContainsKey(worker)) return SuspicionVerdict.Cleared;
        if (Remaining(worker, now) > TimeSpan.Zero) return SuspicionVerdict.Waiting;
        _since.Remove(worker);
        return SuspicionVerdict.Lost;
    }
}
