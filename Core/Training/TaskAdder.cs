using System.Diagnostics;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Model;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>A checkpoint with heads for new tasks beside its own, and what was fitted for each new task.</summary>
public sealed record AddedTasks(Checkpoint Checkpoint, TaskInfo[] Tasks, HeadFit[] Fits, int Molecules, double Seconds);

/// <summary>
/// New tasks on a trained trunk (the ATE-SG head phase on new labels): the trunk is frozen, its outputs for the new
/// molecules computed once, and a head per new task fitted on them (<see cref="HeadFitter"/>). The trunk and the
/// old heads are carried over unchanged.
/// </summary>
public static class TaskAdder
{
    public static AddedTasks Add(Checkpoint trained, PreparedDataset data, Device device)
    {
        var clock = Stopwatch.StartNew();
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

        var (trunk, oldHeads) = trained.Instantiate(device);
        using (trunk)
        using (oldHeads)
        using (var features = DeviceFeatures.Create(data.Features, Enumerable.Range(0, data.RowCount).ToArray(), data.FeatureSize, device))
        using (var embeddings = Inference.Embed(trunk, features))
        {
            var (weight, bias, fits) = HeadFitter.Fit(embeddings, cells, data.Tasks.Select(t => t.Kind).ToArray(), trained.Model.Spec.Seed);
            var old = trained.Model.Tasks.Length;
            var (allWeight, allBias) = HeadAssembly.Merge(
            [
                new HeadColumns("the checkpoint", Enumerable.Range(0, old).ToArray(), trained.HeadWeight, trained.HeadBias),
                new HeadColumns("the new tasks", Enumerable.Range(old, data.TaskCount).ToArray(), weight, bias),
            ], old + data.TaskCount);
            var added = data.Tasks.Select((t, j) => new CheckpointTask(t.Name, t.Kind, fits[j].Scale.Mean, fits[j].Scale.Std));
            var model = trained.Model with { Tasks = [.. trained.Model.Tasks, .. added], Created = DateTimeOffset.UtcNow };
            return new AddedTasks(new Checkpoint(model, trained.Trunk, allWeight, allBias), data.Tasks, fits, data.RowCount, clock.Elapsed.TotalSeconds);
        }
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
