using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary>The arithmetic of the scale-out cost model (<c>bench.sh scaling --model</c>), on round numbers.</summary>
public sealed class ScaleOutModelTests
{
    // 1 M parameters (4 MB), hidden 100, batch 128; 10 TFLOP/s, 1 ms floor, 1 GB/s link, a faster software, 10 µs
    private static readonly ScaleOutWorkload Work = new(1_000_000, 100, 128, 12_800);
    private static readonly ScaleOutMachine Machine = new(10e12, 1e-3, 1e9, 4e9, 10e-6, 0);

    [Fact]
    public void Efficiency_is_one_alone_the_ring_costs_2_N_minus_1_over_N_of_the_bytes_and_the_chosen_K_keeps_the_share_under_the_limit()
    {
        Assert.Equal(4_298_100, RunSpec.TrunkParameterCount(2048, [2000, 100]));
        var one = ScaleOutModel.Step(Work, Machine, 1, 0);
        Assert.Equal(1e-3, one.Compute, 12); // 6 × 1 M × 128 / 10 T = 0.077 ms: under the floor
        Assert.Equal(0, one.AllToAll + one.Reduction);
        Assert.Equal(1, ScaleOutModel.Efficiency(one, one, 1), 12);
        Assert.Equal(1, ScaleOutModel.SmallestSyncEvery(one));

        // the link (1 GB/s) is slower than the software (4 GB/s): it sets the per-byte cost
        var eight = ScaleOutModel.Step(Work, Machine, 8, 2);
        Assert.Equal(2.0 * 7 / 8 * 4e6 / 1e9 + 2 * 7 * 10e-6, ScaleOutModel.RingAllReduceSeconds(4e6, 8, Machine), 12);
        Assert.Equal(ScaleOutModel.RingAllReduceSeconds(4e6, 8, Machine), eight.Reduction, 12);
        Assert.Equal(10e-6 + 16 * 2 * 100 * 4 / 1e9, eight.AllToAll, 12);
        Assert.Equal(one.Seconds() / (8 * eight.Seconds()), ScaleOutModel.Efficiency(one, eight, 8), 12);
        Assert.Equal(one.Seconds() * Work.StepsPerEpoch, 100 * one.Seconds(), 12);

        // --sync-every K: the smallest K under 10%, and K − 1 is not
        var k = ScaleOutModel.SmallestSyncEvery(eight, 0.1);
        Assert.NotNull(k);
        Assert.True(eight.CommunicationShare(k.Value) < 0.1);
        Assert.True(k == 1 || eight.CommunicationShare(k.Value - 1) >= 0.1);
        // all-to-alls alone over the limit: no K helps
        Assert.Null(ScaleOutModel.SmallestSyncEvery(new StepCost(1e-3, 1e-4, 1), 0.1));

        // a slower software caps a faster link
        Assert.Equal(0.25, (Machine with { LinkBytesPerSecond = 100e9 }).SecondsPerByte * 1e9, 12);
        // a global batch large enough amortises the reduction (on a 10 GB/s link, half the rows sent on)
        var fast = Machine with { LinkBytesPerSecond = 10e9, SoftwareBytesPerSecond = 40e9 };
        var batch = ScaleOutModel.BatchForEfficiency(Work, fast, 8, 0.5);
        Assert.NotNull(batch);
        Assert.True(ScaleOutModel.Efficiency(ScaleOutModel.Step(Work, fast, 1, 0, batch), ScaleOutModel.Step(Work, fast, 8, 0.5, batch), 8) >= 0.9);
        Assert.True(ScaleOutModel.Efficiency(ScaleOutModel.Step(Work, fast, 1, 0, batch / 2), ScaleOutModel.Step(Work, fast, 8, 0.5, batch / 2), 8) < 0.9);
    }
}
