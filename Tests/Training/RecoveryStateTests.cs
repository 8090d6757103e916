using System.Runtime.InteropServices;
using MtnnCluster.Checkpoints;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary>The plain parts of recovery: moving tasks, holding heads, training checkpoints on disk.</summary>
public sealed class RecoveryStateTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-recovery-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static readonly long[] Labels = [50, 40, 30, 30, 20, 20, 10, 10, 5, 5];

    [Fact]
    public void A_lost_worker_s_tasks_go_to_the_others_and_nothing_else_moves()
    {
        var before = TaskAssignment.Balance(Labels, [new("a", 1), new("b", 1), new("c", 1)]);
        var after = TaskAssignment.Reassign(before.Where(p => p.Key != "b").ToDictionary(), Labels, [new("a", 1), new("c", 1)]);

        Assert.Equal(Enumerable.Range(0, Labels.Length), after.Values.SelectMany(t => t).Order());
        Assert.Superset(before["a"].ToHashSet(), after["a"].ToHashSet());
        Assert.Superset(before["c"].ToHashSet(), after["c"].ToHashSet());
        Assert.Equal(before["b"].Length, TaskAssignment.Moved(before, after));
        var load = after.ToDictionary(p => p.Key, p => p.Value.Sum(t => Labels[t]));
        Assert.InRange(Math.Abs(load["a"] - load["c"]), 0, 50); // the largest task bounds the imbalance
    }

    [Fact]
    public void A_joining_worker_gets_a_fair_share_and_few_tasks_move()
    {
        var before = TaskAssignment.Balance(Labels, [new("a", 1), new("b", 1)]);
        var after = TaskAssignment.Rebalance(before, Labels, [new("a", 1), new("b", 1), new("c", 2)]);

        Assert.Equal(Enumerable.Range(0, Labels.Length), after.Values.SelectMany(t => t).Order());
        Assert.True(after.ContainsKey("c"));
        var total = Labels.Sum();
        Assert.InRange(after["c"].Sum(t => Labels[t]), total / 4 - 20, total / 2 + 20); // two of four slots
        Assert.Equal(after["c"].Length, TaskAssignment.Moved(before, after));
    }

    private static TensorData Floats(string name, int[] shape, Func<int, float> value)
    {
        var count = shape.Aggregate(1, (a, b) => a * b);
        var values = Enumerable.Range(0, count).Select(value).ToArray();
        return new TensorData(name, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    private static HeadState Shard(int[] tasks, int hidden, float offset) =>
        new(tasks, Floats("w", [hidden, tasks.Length], i => offset + i), Floats("b", [tasks.Length], i => offset - i),
            [Floats("m0", [hidden, tasks.Length], i => offset + 100 + i), Floats("m1", [tasks.Length], i => 1), Floats("v0", [hidden, tasks.Length], i => 2), Floats("v1", [tasks.Length], i => 3)],
            7);

    [Fact]
    public void Heads_merged_from_two_workers_come_back_out_for_any_task_set()
    {
        var store = new HeadStore(hidden: 3, taskCount: 5);
        var first = Shard([0, 3], 3, 10);
        var second = Shard([1, 2, 4], 3, 50);
        store.Merge(first);
        Assert.False(store.KnowsAll);
        store.Merge(second);
        Assert.True(store.KnowsAll);

        var again = store.Extract([0, 3]);
        Assert.Equal(first.Weight.Bytes, again.Weight.Bytes);
        Assert.Equal(first.Bias.Bytes, again.Bias.Bytes);
        Assert.Equal(first.Moments![0].Bytes, again.Moments![0].Bytes);
        Assert.Equal(7, again.OptimizerSteps);

        // a mixed set: column j of the result is task j's column wherever it came from
        var mixed = MemoryMarshal.Cast<byte, float>(store.Extract([3, 1]).Weight.Bytes).ToArray();
        var firstWeight = MemoryMarshal.Cast<byte, float>(first.Weight.Bytes).ToArray();
        var secondWeight = MemoryMarshal.Cast<byte, float>(second.Weight.Bytes).ToArray();
        for (var h = 0; h < 3; h++)
        {
            Assert.Equal(firstWeight[h * 2 + 1], mixed[h * 2]);
            Assert.Equal(secondWeight[h * 3 + 0], mixed[h * 2 + 1]);
        }

        var restored = HeadStore.FromTensors(store.ToTensors(), store.OptimizerSteps);
        Assert.Equal(store.Extract([4, 2, 0]).Weight.Bytes, restored.Extract([4, 2, 0]).Weight.Bytes);
        // a state without per-head counts: every head took OptimizerSteps
        Assert.Equal([7L, 7], again.HeadSteps!);
        Assert.Throws<InvalidOperationException>(() => new HeadStore(3, 5).Extract([1]));
        var wrong = Assert.Throws<InvalidDataException>(() => store.Merge(first with { Weight = Floats("w", [2, 2], i => 0) }));
        Assert.Contains("weight", wrong.Message);
    }

    [Fact]
    public void Each_head_keeps_its_own_step_count_through_the_store_and_a_checkpoint_and_older_files_read_as_uniform()
    {
        var store = new HeadStore(hidden: 3, taskCount: 5);
        store.Merge(Shard([0, 3], 3, 10) with { OptimizerSteps = 9, HeadSteps = [9, 2] });
        store.Merge(Shard([1, 2, 4], 3, 50) with { OptimizerSteps = 5, HeadSteps = [5, 0, 1] });
        Assert.Equal(9, store.OptimizerSteps);
        Assert.Equal([1L, 2, 0], store.Extract([4, 3, 2]).HeadSteps!);
        var restored = HeadStore.FromTensors(store.ToTensors(), 0);
        Assert.Equal([9L, 5, 0, 2, 1], restored.Extract([0, 1, 2, 3, 4]).HeadSteps!);
        var older = HeadStore.FromTensors(store.ToTensors()[..6], 4);
        Assert.Equal([4L, 4, 4, 4, 4], older.Extract([0, 1, 2, 3, 4]).HeadSteps!);
        var wrong = Assert.Throws<InvalidDataException>(() => store.Merge(Shard([0, 3], 3, 10) with { HeadSteps = [1] }));
        Assert.Contains("step counts", wrong.Message);
    }

    private TrainingCheckpoint Sample(int epoch)
    {
        var spec = Serialization.MtnnMessageSerializerTests.SampleSpec();
        var parameters = spec.Model.Layers.Length * 2;
        var trunk = Enumerable.Range(0, parameters).Select(i => Floats($"p{i}", [4], j => epoch + i + j)).ToArray();
        var heads = new HeadStore(spec.Model.Layers[^1], 2);
        heads.Merge(Shard([0, 1], spec.Model.Layers[^1], epoch));
        var state = new TrainingState(TrainingCheckpoint.CurrentFormat, "run-x", spec, 2048, "abc", ["a", "b"], epoch, epoch + 1, EpochPhase.Heads,
            epoch * 10, epoch * 10 - 1, epoch * 10, 7, epoch, 0.75, [], [], new Dictionary<string, int[]> { ["w1"] = [0, 1] }, 7, DateTimeOffset.UtcNow);
        return new TrainingCheckpoint(state, new TrunkState(trunk, [.. trunk, .. trunk], epoch * 10, epoch * 10, trunk, epoch * 10 - 1), heads, heads.Clone());
    }

    [Fact]
    public void Training_checkpoints_keep_the_newest_and_fall_back_past_a_damaged_one()
    {
        var checkpoints = Path.Combine(_directory, "checkpoints");
        for (var epoch = 1; epoch <= 4; epoch++) Sample(epoch).Write(checkpoints, keep: 2);
        Assert.Equal(["epoch-000004", "epoch-000003"], TrainingCheckpoint.List(checkpoints).Select(Path.GetFileName));

        var latest = TrainingCheckpoint.LoadLatest(checkpoints, _ => { })!.Value.Checkpoint;
        Assert.Equal(4, latest.State.CompletedEpochs);
        Assert.Equal(Sample(4).Trunk.Parameters[1].Bytes, latest.Trunk.Parameters[1].Bytes);
        Assert.Equal(39, latest.Trunk.BestVersion);
        Assert.Equal(Sample(4).Heads.Extract([1]).Weight.Bytes, latest.Heads.Extract([1]).Weight.Bytes);

        var heads = Path.Combine(checkpoints, "epoch-000004", "heads.safetensors");
        var bytes = File.ReadAllBytes(heads);
        bytes[^3] ^= 1;
        File.WriteAllBytes(heads, bytes);
        var warnings = new List<string>();
        var fallback = TrainingCheckpoint.LoadLatest(checkpoints, warnings.Add)!.Value;
        Assert.Equal(3, fallback.Checkpoint.State.CompletedEpochs);
        Assert.Contains(warnings, w => w.Contains("heads.safetensors") && w.Contains("SHA-256"));

        File.Delete(Path.Combine(checkpoints, "epoch-000003", "state.json"));
        var none = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.LoadLatest(checkpoints, _ => { }));
        Assert.Contains("no checkpoint can be read", none.Message);
        Assert.Null(TrainingCheckpoint.LoadLatest(Path.Combine(_directory, "elsewhere"), _ => { }));
    }
}
