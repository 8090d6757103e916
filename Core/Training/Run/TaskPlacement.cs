namespace MtnnCluster.Training.Run;

/// <summary>An assignment of tasks to workers and how many tasks moved to reach it.</summary>
public sealed record PlacementChange(IReadOnlyDictionary<string, int[]> Assignment, int Moved);

/// <summary>
/// Which worker trains which tasks, and the decisions when workers come and go: a lost worker's tasks move to the
/// others (the others keep theirs); a worker that joins takes a fair share at the next epoch end; with no worker
/// left there is no assignment until one joins. Tasks are balanced by training labels per slot.
/// </summary>
public sealed class TaskPlacement(IReadOnlyList<long> labelsPerTask)
{
    private HashSet<string> _placed = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int[]> Assignment { get; private set; } = new Dictionary<string, int[]>();
    public bool HasWorkers => Assignment.Count > 0;
    public IReadOnlyList<long> LabelsPerTask => labelsPerTask;

    /// <summary>Workers this assignment was made for (some may have got no task); the others joined since.</summary>
    public IEnumerable<string> Unplaced(IEnumerable<string> live) => live.Where(id => !_placed.Contains(id));

    /// <summary>Whether any of <paramref name="workers"/> trains tasks now.</summary>
    public bool Holds(IEnumerable<string> workers) => workers.Any(Assignment.ContainsKey);

    public PlacementChange Start(IReadOnlyList<WorkerSlot> workers) =>
        Apply(workers.Count == 0 ? new Dictionary<string, int[]>() : TaskAssignment.Balance(labelsPerTask, workers), workers);

    /// <summary>Some workers are gone: <paramref name="remaining"/> keep their tasks and take the lost ones.</summary>
    public PlacementChange Lost(IReadOnlyList<WorkerSlot> remaining)
    {
        var kept = Assignment.Where(a => remaining.Any(w => w.WorkerId == a.Key)).ToDictionary(a => a.Key, a => a.Value);
        return Apply(remaining.Count == 0 ? new Dictionary<string, int[]>() : TaskAssignment.Reassign(kept, labelsPerTask, remaining), remaining, Assignment);
    }

    /// <summary>Workers joined: a few tasks move from the most loaded to them (all of them, when nobody held any).</summary>
    public PlacementChange Joined(IReadOnlyList<WorkerSlot> workers) => Apply(TaskAssignment.Rebalance(Assignment, labelsPerTask, workers), workers);

    private PlacementChange Apply(IReadOnlyDictionary<string, int[]> next, IReadOnlyList<WorkerSlot> workers, IReadOnlyDictionary<string, int[]>? before = null)
    {
        var moved = TaskAssignment.Moved(before ?? Assignment, next);
        Assignment = next;
        _placed = new HashSet<string>(workers.Select(w => w.WorkerId), StringComparer.Ordinal);
        return new PlacementChange(next, moved);
    }
}
