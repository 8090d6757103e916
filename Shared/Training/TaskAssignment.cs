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
        return workers.Select((w, i) => (w.WorkerId, Tasks: assigned[i].Order().ToArray()))
            .Where(a => a.Tasks.Length > 0)
            .ToDictionary(a => a.WorkerId, a => a.Tasks);
    }
}
