using System.Diagnostics;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Model;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>A checkpoint with heads for new tasks beside its own, and what was fitted for each new task.</summary>
public sealed record AddedTasks(Checkpoint Checkpoint, TaskInfo[] Tasks, HeadFit[] Fits, int Molecules, double Seconds);

/// <summary>
/// Heads fitted for some of the new tasks (<see cref="Tasks"/>: indices among the data's tasks; weight [hidden ×
/// tasks], columns in that order), by one worker or, for all tasks, by one process.
/// </summary>
public sealed record FittedHeads(int[] Tasks, TensorData Weight, TensorData Bias, HeadFit[] Fits);

/// <summary>
/// New tasks on a trained trunk (the ATE-SG head phase on new labels): the trunk is frozen, its outputs for the new
/// molecules computed once, and a head per new task fitted on them (<see cref="HeadFitter"/>). The trunk and the
/// old heads are carried over unchanged. On a cluster the tasks are shared out (<see cref="Shares"/>), each worker
/// fits its own (<see cref="Fit"/>), and the coordinator assembles them (<see cref="Assemble"/>): every head is the
/// one a single process fits, since each task's fit depends on its own labels alone.
/// </summary>
public static class TaskAdder
{
    public static AddedTasks Add(Checkpoint trained, PreparedDataset data, Device device)
    {
        var clock = Stopwatch.StartNew();
        Require(trained, data);
        var (trunk, oldHeads) = trained.Instantiate(device);
        using (trunk)
        using (oldHeads)
        {
            var fitted = Fit(trunk, data, Enumerable.Range(0, data.TaskCount).ToArray(), trained.Model.Spec.Seed, device);
            return Assemble(trained, data, [fitted], clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>Refuses new tasks the checkpoint cannot take: names it has, another feature size, a class missing.</summary>
    public static void Require(Checkpoint trained, PreparedDataset data)
    {
        var known = trained.Model.Tasks.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var clash = data.Tasks.Where(t => known.Contains(t.Name)).Select(t => t.Name).ToArray();
        if (clash.Length > 0)
            throw new ArgumentException($"{data.Path}: the checkpoint already has task{(clash.Length > 1 ? "s" : "")} {string.Join(", ", clash.Take(10).Select(n => $"'{n}'"))}");
        if (data.FeatureSize != trained.Model.FeatureSize)
            throw new ArgumentException($"{data.Path}: features of size {data.FeatureSize}, the checkpoint's trunk takes {trained.Model.FeatureSize}");
        var cells = CellsOf(data);
        var lacking = data.Tasks.Where((t, j) => t.Kind == TaskKind.Classification && !HasBothClasses(cells, j)).Select(t => t.Name).ToArray();
        if (lacking.Length > 0)
            throw new ArgumentException($"{data.Path}: task{(lacking.Length > 1 ? "s" : "")} {string.Join(", ", lacking.Take(10).Select(n => $"'{n}'"))} need at least one label of each class");
    }

    /// <summary>
    /// The heads of <paramref name="tasks"/> (indices among the data's tasks) on <paramref name="trunk"/>, frozen:
    /// only the molecules labelled for them are embedded. <paramref name="seed"/>: the trained model's.
    /// </summary>
    public static FittedHeads Fit(ITrunk trunk, PreparedDataset data, int[] tasks, long seed, Device device)
    {
        var local = new Dictionary<int, int>();
        for (var k = 0; k < tasks.Length; k++)
            if (tasks[k] < 0 || tasks[k] >= data.TaskCount || !local.TryAdd(tasks[k], k))
                throw new ArgumentException($"task {tasks[k]} is not a task of {data.Path} or is named twice");
        var (used, rows, cellTasks, labels) = (new List<int>(), new List<int>(), new List<int>(), new List<float>());
        for (var row = 0; row < data.RowCount; row++)
        {
            var rowTasks = data.Labels.TasksOf(row);
            var values = data.Labels.ValuesOf(row);
            var at = -1;
            for (var k = 0; k < rowTasks.Length; k++)
            {
                if (!local.TryGetValue(rowTasks[k], out var column)) continue;
                if (at < 0) { at = used.Count; used.Add(row); }
                rows.Add(at);
                cellTasks.Add(column);
                labels.Add(values[k]);
            }
        }
        using var features = trunk.Store(data.Inputs, used, device);
        using var embeddings = trunk.Embed(features);
        var (weight, bias, fits) = HeadFitter.Fit(embeddings, new SupportCells([.. rows], [.. cellTasks], [.. labels]),
            tasks.Select(t => data.Tasks[t].Kind).ToArray(), seed, tasks);
        return new FittedHeads(tasks, weight, bias, fits);
    }

    /// <summary>
    /// The data's tasks shared out over workers of <paramref name="slots"/> in proportion to slots, balanced by
    /// labels (the fit's cost): the task with the most labels first, each to the share furthest below its part.
    /// Shares may be empty when tasks are fewer than workers.
    /// </summary>
    public static int[][] Shares(PreparedDataset data, IReadOnlyList<int> slots)
    {
        if (slots.Count == 0 || slots.Any(s => s < 1)) throw new ArgumentException("every worker needs at least one slot");
        var labels = new long[data.TaskCount];
        for (var row = 0; row < data.RowCount; row++)
            foreach (var t in data.Labels.TasksOf(row)) labels[t]++;
        var load = new double[slots.Count];
        var shares = Enumerable.Range(0, slots.Count).Select(_ => new List<int>()).ToArray();
        foreach (var task in Enumerable.Range(0, data.TaskCount).OrderByDescending(t => labels[t]).ThenBy(t => t))
        {
            var to = Enumerable.Range(0, slots.Count).MinBy(w => (load[w] / slots[w], w));
            shares[to].Add(task);
            load[to] += labels[task];
        }
        return shares.Select(s => s.Order().ToArray()).ToArray();
    }

    /// <summary>The checkpoint with the old tasks and every new task's head from <paramref name="fitted"/> (each task exactly once).</summary>
    public static AddedTasks Assemble(Checkpoint trained, PreparedDataset data, IReadOnlyList<FittedHeads> fitted, double seconds)
    {
        var old = trained.Model.Tasks.Length;
        var (allWeight, allBias) = HeadAssembly.Merge(
        [
            new HeadColumns("the checkpoint", Enumerable.Range(0, old).ToArray(), trained.HeadWeight, trained.HeadBias),
            .. fitted.Select((f, i) => new HeadColumns($"share {i} of the new tasks", f.Tasks.Select(t => old + t).ToArray(), f.Weight, f.Bias)),
        ], old + data.TaskCount);
        var fits = new HeadFit[data.TaskCount];
        foreach (var f in fitted)
            for (var k = 0; k < f.Tasks.Length; k++) fits[f.Tasks[k]] = f.Fits[k];
        var added = data.Tasks.Select((t, j) => new CheckpointTask(t.Name, t.Kind, fits[j].Scale.Mean, fits[j].Scale.Std));
        var model = trained.Model with { Tasks = [.. trained.Model.Tasks, .. added], Created = DateTimeOffset.UtcNow };
        return new AddedTasks(new Checkpoint(model, trained.Trunk, allWeight, allBias), data.Tasks, fits, data.RowCount, seconds);
    }

    /// <summary>Every labelled cell of the dataset, all rows (there is no split: these labels are all there is).</summary>
    public static SupportCells CellsOf(PreparedDataset data)
    {
        var (rows, tasks, labels) = (new List<int>(), new List<int>(), new List<float>());
        for (var row = 0; row < data.RowCount; row++)
        {
            var rowTasks = data.Labels.TasksOf(row);
            var values = data.Labels.ValuesOf(row);
            for (var k = 0; k < rowTasks.Length; k++) { rows.Add(row); tasks.Add(rowTasks[k]); labels.Add(values[k]); }
        }
        return new SupportCells([.. rows], [.. tasks], [.. labels]);
    }

    private static bool HasBothClasses(SupportCells cells, int task)
    {
        var (positive, negative) = (false, false);
        for (var i = 0; i < cells.Count; i++)
            if (cells.Tasks[i] == task) { positive |= cells.Labels[i] == 1; negative |= cells.Labels[i] == 0; }
        return positive && negative;
    }
}
