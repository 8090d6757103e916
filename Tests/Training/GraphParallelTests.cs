using System.Runtime.InteropServices;
using MtnnCluster.Collectives;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Tests.Data;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// The graph trunk through the same data-parallel step as the fingerprint trunk: one worker alone against two and
/// three sharing rows and tasks, on real molecules, with dropout and molecule-level features beside the graph.
/// </summary>
public sealed class GraphParallelTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    private RunSpec Spec() => new(
        new DatasetSpec([_dir.WriteText("tox21-small.csv", string.Concat(File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(361).Select(l => l + "\n")))],
            "smiles", null, null, null),
        new FeaturizerSpec(2, 2048, true, CountScale.Log, Descriptors: true, DescriptorSet: 2, Fingerprint: false, GraphFeatures: MtnnCluster.Chem.GraphFeatures.Version),
        new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([24], 0.2, 0, TrunkKind.Graph, new GraphSpec(3, 32, GraphReadout.Mean)),
        new OptimizerSpec(3e-3, 1e-4, 48, false),
        new ScheduleSpec(ScheduleKind.Joint, 2, 1, 1, 0),
        7);

    private static float[] Floats(TensorData t) => MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray();

    private static T[] OnWorkers<T>(int count, PreparedDataset data, RunSpec spec, Func<ShardTrainer, T> work)
    {
        var ids = Enumerable.Range(0, count).Select(i => new WorkerSlot($"w{i}", 1)).ToArray();
        var assignment = TaskAssignment.Balance(data.Labels.CountPerTask(data.Split.Train), ids);
        var layouts = ShardLayout.Of(assignment, assignment.Keys.ToDictionary(w => w, _ => 1), data.TaskCount);
        var groups = new InProcessGroups(TimeSpan.FromMinutes(1));
        var workers = layouts.Values.OrderBy(l => l.Rank).Select(layout => Task.Run(() =>
        {
            using var group = groups.Join("graph", layout.Rank, new string?[count], TimeSpan.FromSeconds(30));
            using var trainer = new ShardTrainer(data, spec, layout, group, CPU);
            return work(trainer);
        })).ToArray();
        Assert.True(Task.WaitAll(workers, TimeSpan.FromMinutes(3)), $"{count} workers did not finish");
        return workers.Select(w => w.Result).ToArray();
    }

    [Fact]
    public void One_two_and_three_workers_train_the_same_graph_model()
    {
        var spec = Spec();
        spec.Validate();
        var data = PreparedDataset.Prepare(spec);
        Assert.NotNull(data.Graphs);
        Assert.Equal(MtnnCluster.Chem.MoleculeDescriptors.Count(2), data.FeatureSize); // descriptors beside the graph, no fingerprint
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        (ShardLoss Loss, TensorData[] Trunk, TaskMetrics[] Scores) Train(ShardTrainer trainer)
        {
            var loss = trainer.TrainSteps(1, EpochPhase.Joint, 0, steps, steps);
            var second = trainer.TrainSteps(2, EpochPhase.Joint, 0, steps, steps);
            return (loss with { LossSum = loss.LossSum + second.LossSum }, trainer.SnapshotTrunk().Parameters, trainer.Evaluate([Split.Valid, Split.Test]));
        }
        var one = OnWorkers(1, data, spec, Train);
        foreach (var count in new[] { 2, 3 })
        {
            var many = OnWorkers(count, data, spec, Train);
            Assert.Equal(data.Split.Train.Length, many.Sum(w => w.Loss.Rows)); // each row's graph run once, by one worker
            Assert.Equal(one[0].Loss.LossSum, many.Sum(w => w.Loss.LossSum), Math.Abs(one[0].Loss.LossSum) * 1e-3);
            for (var i = 0; i < one[0].Trunk.Length; i++)
            {
                Assert.Equal(many[0].Trunk[i].Bytes, many[^1].Trunk[i].Bytes); // the replicas agree bit for bit
                var (a, b) = (Floats(one[0].Trunk[i]), Floats(many[0].Trunk[i]));
                Assert.InRange(a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), 0, 5e-4);
            }
            var scores = many.SelectMany(w => w.Scores).ToDictionary(s => (s.Task, s.Split));
            foreach (var score in one[0].Scores)
                if (!double.IsNaN(score.RocAuc)) Assert.Equal(score.RocAuc, scores[(score.Task, score.Split)].RocAuc, 0.005);
        }
    }

    [Fact]
    public void A_head_epoch_runs_the_graph_network_once_then_only_the_heads()
    {
        var spec = Spec();
        var data = PreparedDataset.Prepare(spec);
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        var two = OnWorkers(2, data, spec, trainer => (First: trainer.HeadEpoch(1, steps), Second: trainer.HeadEpoch(2, steps)));
        Assert.Equal(data.Split.Train.Length, two.Sum(w => w.First.Rows));
        Assert.All(two, w => Assert.Equal(0, w.Second.Rows + w.Second.BytesSent));
    }

    public void Dispose() => _dir.Dispose();
}
