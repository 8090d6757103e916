namespace MtnnCluster.Training.Run;

/// <summary>
/// What happened to the run as a whole, in order, and which of those events still wait for training to go on
/// again: a loss, a departure or a resume that interrupted training is recovered when the next deployment trains.
/// </summary>
public sealed class RunEvents(IEnumerable<RunEvent> earlier)
{
    private readonly List<RunEvent> _events = [.. earlier];
    private readonly List<int> _awaitingRecovery = [];

    public IReadOnlyList<RunEvent> All => _events;

    /// <summary>An event that did not stop training (a worker without tasks lost, a checkpoint not written).</summary>
    public void Add(RunEvent e) => _events.Add(e);

    /// <summary>An event after which the run goes back to its last snapshot; all but a join wait for recovery.</summary>
    public void Interrupted(RunEvent e)
    {
        _events.Add(e);
        if (e.Kind != RunEventKind.WorkerJoined) _awaitingRecovery.Add(_events.Count - 1);
    }

    /// <summary>Training is going on again at <paramref name="now"/>: returns the seconds since the first event that waited, or null if none did.</summary>
    public double? Recovered(DateTimeOffset now)
    {
        if (_awaitingRecovery.Count == 0) return null;
        foreach (var i in _awaitingRecovery) _events[i] = _events[i] with { ResumedAt = now };
        var seconds = (now - _events[_awaitingRecovery[0]].Time).TotalSeconds;
        _awaitingRecovery.Clear();
        return seconds;
    }
}
