using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// Tasks that move to another worker go on from their heads and moments, not from fresh heads: a trainer started
/// from another's snapshot holds the same heads and takes the same next steps.
/// </summary>
public sealed class HeadHandoverTests(Tox21Slice slice) : IClassFixture<Tox21Slice>
{
    private RunSpec Spec() => new(
        new DatasetSpec([slice.Csv], "smiles", null, null, null), new FeaturizerSpec(2, 256, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([16], 0), new OptimizerSpec(3e-3, 1e-4, 64, false), new ScheduleSpec(ScheduleKind.Alternate, 4, 1, 1, 0), 0);

    private static byte[][] Heads(ShardTrainer trainer)
    {
        var (weight, bias) = trainer.ExportHeads();
        return [weight.Bytes, bias.Bytes];
    }

    [Fact]
    public void A_worker_given_a_snapshot_s_heads_continues_exactly_where_the_first_one_was()
    {
        var spec = Spec();
        var data = PreparedDataset.Prepare(spec);
        int[] tasks = [1, 3, 4, 7];
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;

        using var first = new ShardTrainer(data, spec, Shards.Owning(data.TaskCount, tasks), Shards.Alone(), CPU);
        var fresh = Heads(first);
        first.HeadEpoch(1, steps);
        var snapshot = first.SnapshotHeads();
        Assert.NotEqual(fresh, Heads(first)); // the epoch trained them

        using var second = new ShardTrainer(data, spec, Shards.Owning(data.TaskCount, tasks), Shards.Alone(), CPU, new ShardStart(Heads: snapshot));
        Assert.Equal(Heads(first), Heads(second));
        first.HeadEpoch(2, steps);
        second.HeadEpoch(2, steps);
        Assert.Equal(Heads(first), Heads(second)); // the moments came along: the same next steps
    }
}
