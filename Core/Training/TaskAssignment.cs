namespace MtnnCluster.Training;

/// <summary>A worker as the scheduler sees it.</summary>
public sealed record WorkerSlot(string WorkerId, int Slots);

/// <summary>
/// Shards tasks across workers so that labelled rows, not task counts, are balanced (weighted by each worker's
/// slots): tasks in decreasing order of labels, each to the worker with the least load per slot.
/// </summary>
public static class TaskAssignment
{
    public static IReadOnlyDictionary<string, int[]> Balance(IReadOnlyList<long> labelsPerTask, IReadOnlyList<WorkerSlot> workers)
    {
        if (workers.Count == 0) throw new ArgumentException("no workers to assign tasks to");
        if (workers.Any(w => w.Slots < 1)) throw new ArgumentException("every worker needs at least one slot");
        var load = new double[workers.Count];
        var assigned = workers.Select(_ => new List<int>()).ToArray();
        var order = Enumerable.Range(0, labelsPerTask.Count).OrderByDescending(t => labelsPerTask[t]).ThenBy(t => t);
        foreach (var task in order)
        {
            var target = 0;
            for (var w = 1; w < workers.Count; w++)
            {
                var here = (load[w] + labelsPerTask[task]) / workers[w].Slots;
                var best = (load[target] + labelsPerTask[task]) / workers[target].Slots;
                if (here < best || (here == best && assigned[w].Count < assigned[target].Count)) target = w;
            }
            load[target] += labelsPerTask[task];
            assigned[target].Add(task);
        }
        return Result(workers, assigned);
    }

    /// <summary>
    /// After workers left: tasks stay where they are on the workers that remain; every other task (the departed
    /// workers') goes, largest first, to the remaining worker with the least load per slot.
    /// </summary>
    public static IReadOnlyDictionary<string, int[]> Reassign(IReadOnlyDictionary<string, int[]> current, IReadOnlyList<long> labelsPerTask, IReadOnlyList<WorkerSlot> workers)
    {
        if (workers.Count == 0) throw new ArgumentException("no workers to assign tasks to");
        var assigned = workers.Select(w => new List<int>(current.GetValueOrDefault(w.WorkerId) ?? [])).ToArray();
        var load = assigned.Select(tasks => (double)tasks.Sum(t => labelsPerTask[t])).ToArray();
        var placed = assigned.SelectMany(t => t).ToHashSet();
        foreach (var task in Enumerable.Range(0, labelsPerTask.Count).Where(t => !placed.Contains(t)).OrderByDescending(t => labelsPerTask[t]).ThenBy(t => t))
        {
            var target = Enumerable.Range(0, workers.Count).MinBy(w => (load[w] + labelsPerTask[task]) / workers[w].Slots);
            load[target] += labelsPerTask[task];
            assigned[target].Add(task);
        }
        return Result(workers, assigned);
    }

    /// <summary>
    /// When workers joined: moves tasks, one at a time, from the most loaded worker (per slot) to the least loaded,
    /// choosing the task that best evens the pair, while that lowers the most loaded worker's load. Few tasks move.
    /// </summary>
    public static IReadOnlyDictionary<string, int[]> Rebalance(IReadOnlyDictionary<string, int[]> current, IReadOnlyList<long> labelsPerTask, IReadOnlyList<WorkerSlot> workers)
    {
        var placed = Reassign(current, labelsPerTask, workers);
        var assigned = workers.Select(w => new List<int>(placed.GetValueOrDefault(w.WorkerId) ?? [])).ToArray();
        var load = assigned.Select(tasks => (double)tasks.Sum(t => labelsPerTask[t])).ToArray();
        double PerSlot(int w) => load[w] / workers[w].Slots;
        for (var moves = 0; moves < labelsPerTask.Count; moves++)
        {
            var donor = Enumerable.Range(0, workers.Count).MaxBy(PerSlot);
            var receiver = Enumerable.Range(0, workers.Count).MinBy(PerSlot);
            if (donor == receiver || assigned[donor].Count <= 1) break;
            var before = PerSlot(donor);
            var best = assigned[donor]
                .Select(t => (Task: t, After: Math.Max((load[donor] - labelsPerTask[t]) / workers[donor].Slots, (load[receiver] + labelsPerTask[t]) / workers[receiver].Slots)))
                .MinBy(c => c.After);
            if (best.After >= before) break;
            assigned[donor].Remove(best.Task);
            assigned[receiver].Add(best.Task);
            load[donor] -= labelsPerTask[best.Task];
            load[receiver] += labelsPerTask[best.Task];
        }
        return Result(workers, assigned);
    }

    /// <summary>Tasks whose worker differs between two assignments (or that one of them lacks).</summary>
    public static int Moved(IReadOnlyDictionary<string, int[]> before, IReadOnlyDictionary<string, int[]> after)
    {
        var owner = before.SelectMany(a => a.Value.Select(t => (t, a.Key))).ToDictionary(p => p.t, p => p.Key);
        return after.Sum(a => a.Value.Count(t => !owner.TryGetValue(t, out var previous) || previous != a.Key));
    }

    private static Dictionary<string, int[]> Result(IReadOnlyList<WorkerSlot> workers, List<int>[] assigned) =>
        // a worker with no task still computes the trunk on its share of the rows: it stays in the assignment
        workers.Select((w, i) => (w.WorkerId, Tasks: assigned[i].Order().ToArray())).ToDictionary(a => a.WorkerId, a => a.Tasks);
}
