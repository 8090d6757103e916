using System.Runtime.InteropServices;
using MtnnCluster.Collectives;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// The hybrid step at the level of the trainers, without actors: one worker alone against three sharing rows and
/// tasks through an in-memory group, on the same batches.
/// </summary>
public sealed class HybridParallelTests
{
    private static RunSpec Spec(int syncEvery = 1) => new(
        new DatasetSpec(["synthetic:900,10,0.3,4"], "smiles", null, null, null),
        new FeaturizerSpec(2, 256, false),
        new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([48, 24], 0.2),
        new OptimizerSpec(3e-3, 1e-4, 64, false),
        new ScheduleSpec(ScheduleKind.Joint, 2, 1, 1, 0, syncEvery),
        7);

    private static float[] Floats(TensorData t) => MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray();

    /// <summary>Three trainers on their own threads, as three worker actors would run them.</summary>
    private static T[] OnThreeWorkers<T>(PreparedDataset data, RunSpec spec, Func<ShardTrainer, IProcessGroup, T> work)
    {
        var assignment = TaskAssignment.Balance(data.Labels.CountPerTask(data.Split.Train), [new("a", 1), new("b", 1), new("c", 1)]);
        var layouts = ShardLayout.Of(assignment, assignment.Keys.ToDictionary(w => w, _ => 1), data.TaskCount);
        var groups = new InProcessGroups(TimeSpan.FromMinutes(1));
        var workers = layouts.Values.OrderBy(l => l.Rank).Select(layout => Task.Run(() =>
        {
            using var group = groups.Join("test", layout.Rank, [null, null, null], TimeSpan.FromSeconds(30));
            using var trainer = new ShardTrainer(data, spec, layout, group, CPU);
            return work(trainer, group);
        })).ToArray();
        Assert.True(Task.WaitAll(workers, TimeSpan.FromMinutes(2)), "three workers did not finish");
        return workers.Select(w => w.Result).ToArray();
    }

    [Fact]
    public void Three_workers_take_one_worker_s_steps_on_a_third_of_the_rows_each()
    {
        var spec = Spec();
        var data = PreparedDataset.Prepare(spec);
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;

        using var alone = new ShardTrainer(data, spec, Shards.OwningAll(data.TaskCount), Shards.Alone(), CPU);
        var soloLoss = alone.TrainSteps(1, EpochPhase.Joint, 0, steps, steps);
        var soloState = alone.SnapshotTrunk();
        var soloTrunk = soloState.Parameters;
        var soloHeads = alone.SnapshotHeads();
        var soloScores = alone.Evaluate([Split.Valid]).ToDictionary(s => s.Task);

        var three = OnThreeWorkers(data, spec, (trainer, group) =>
        {
            var loss = trainer.TrainSteps(1, EpochPhase.Joint, 0, steps, steps);
            var state = trainer.SnapshotTrunk();
            return (Loss: loss, Trunk: state.Parameters, Moments: state.Moments, state.OptimizerSteps, Heads: trainer.SnapshotHeads(),
                Scores: trainer.Evaluate([Split.Valid]));
        });

        // the work: each training row's trunk computed once, by one worker
        Assert.Equal(data.Split.Train.Length, soloLoss.Rows);
        Assert.Equal(data.Split.Train.Length, three.Sum(w => w.Loss.Rows));
        Assert.All(three, w => Assert.InRange(w.Loss.Rows, data.Split.Train.Length / 3 - 1, data.Split.Train.Length / 3 + 1));
        Assert.Equal(0, soloLoss.BytesSent); // alone, nothing moves
        Assert.All(three, w => Assert.True(w.Loss.BytesSent > 0));
        // the same loss over the same cells
        Assert.Equal(soloLoss.Labels, three.Sum(w => w.Loss.Labels));
        Assert.Equal(soloLoss.LossSum, three.Sum(w => w.Loss.LossSum), soloLoss.LossSum * 1e-4);
        // the replicas agree bit for bit, and with the lone worker's trunk up to summation order
        for (var i = 0; i < soloTrunk.Length; i++)
        {
            Assert.Equal(three[0].Trunk[i].Bytes, three[1].Trunk[i].Bytes);
            Assert.Equal(three[0].Trunk[i].Bytes, three[2].Trunk[i].Bytes);
            var (a, b) = (Floats(soloTrunk[i]), Floats(three[0].Trunk[i]));
            Assert.InRange(a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), 0, 2e-4);
        }
        // the optimizer, sharded among the three (each stepped its chunk's moments), is whole again in the snapshot:
        // the same on every worker and as the lone worker's up to summation order
        for (var i = 0; i < soloState.Moments.Length; i++)
        {
            Assert.Equal(three[0].Moments[i].Bytes, three[2].Moments[i].Bytes);
            var (a, b) = (Floats(soloState.Moments[i]), Floats(three[1].Moments[i]));
            var scale = Math.Max(1e-12, a.Max(Math.Abs));
            Assert.InRange(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / scale, 0, 1e-3);
        }
        Assert.All(three, w => Assert.Equal(soloState.OptimizerSteps, w.OptimizerSteps));
        // every task's head, wherever it trained, as the lone worker's
        var soloWeight = Floats(soloHeads.Weight);
        foreach (var worker in three)
        {
            var weight = Floats(worker.Heads.Weight);
            for (var j = 0; j < worker.Heads.TaskIndices.Length; j++)
                for (var h = 0; h < spec.Model.Layers[^1]; h++)
                    Assert.Equal(soloWeight[h * data.TaskCount + worker.Heads.TaskIndices[j]], weight[h * worker.Heads.TaskIndices.Length + j], 3e-4);
        }
        // and the scores, computed data-parallel
        Assert.Equal(data.TaskCount, three.Sum(w => w.Scores.Length));
        foreach (var score in three.SelectMany(w => w.Scores))
            Assert.Equal(soloScores[score.Task].RocAuc, score.RocAuc, 0.01);
    }

    [Fact]
    public void A_head_epoch_sends_each_row_s_embedding_once_and_trains_the_heads_as_one_worker_does()
    {
        var spec = Spec();
        var data = PreparedDataset.Prepare(spec);
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        using var alone = new ShardTrainer(data, spec, Shards.OwningAll(data.TaskCount), Shards.Alone(), CPU);
        var solo = alone.HeadEpoch(1, steps);
        var again = alone.HeadEpoch(2, steps); // the same trunk: its embeddings are reused
        var soloWeight = Floats(alone.SnapshotHeads().Weight);

        var three = OnThreeWorkers(data, spec, (trainer, group) => (First: trainer.HeadEpoch(1, steps), Second: trainer.HeadEpoch(2, steps), Heads: trainer.SnapshotHeads()));
        Assert.Equal(data.Split.Train.Length, solo.Rows);
        Assert.Equal(0, again.Rows);
        Assert.Equal(data.Split.Train.Length, three.Sum(w => w.First.Rows));
        Assert.All(three, w => Assert.Equal(0, w.Second.Rows + w.Second.BytesSent)); // no traffic in the second epoch
        Assert.Equal(solo.Labels, three.Sum(w => w.First.Labels));
        foreach (var worker in three)
        {
            var weight = Floats(worker.Heads.Weight);
            for (var j = 0; j < worker.Heads.TaskIndices.Length; j++)
                Assert.Equal(soloWeight[worker.Heads.TaskIndices[j]], weight[j], 1e-4);
        }
    }

    [Fact]
    public void Local_steps_leave_the_replicas_equal_after_each_average()
    {
        var spec = Spec(syncEvery: 3);
        var data = PreparedDataset.Prepare(spec);
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        var trunks = OnThreeWorkers(data, spec, (trainer, group) =>
        {
            trainer.TrainSteps(1, EpochPhase.Joint, 0, steps, steps);
            return trainer.SnapshotTrunk().Parameters;
        });
        for (var i = 0; i < trunks[0].Length; i++)
        {
            Assert.Equal(trunks[0][i].Bytes, trunks[1][i].Bytes);
            Assert.Equal(trunks[0][i].Bytes, trunks[2][i].Bytes);
        }
    }

    [Fact]
    public void A_peer_that_leaves_the_group_releases_the_others_with_an_error()
    {
        var spec = Spec();
        var data = PreparedDataset.Prepare(spec);
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        var errors = OnThreeWorkers(data, spec, (trainer, group) =>
        {
            if (trainer.Rank == 2)
            {
                group.Abort("rank 2 leaves before the first step"); // as a worker leaving its attempt does
                return null;
            }
            return Record.Exception(() => trainer.TrainSteps(1, EpochPhase.Joint, 0, steps, steps));
        });
        Assert.IsType<CollectiveAbortedException>(errors[0]);
        Assert.IsType<CollectiveAbortedException>(errors[1]);
    }
}
