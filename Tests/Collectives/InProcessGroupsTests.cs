using System.Diagnostics;
using MtnnCluster.Collectives;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

/// <summary>Groups of threads in one process: the contract, and the registry, join and call timeouts of <see cref="InProcessGroups"/>.</summary>
public sealed class InProcessGroupsTests : ProcessGroupContract
{
    private readonly InProcessGroups _groups = new(callTimeout: TimeSpan.FromSeconds(5));

    protected override IProcessGroup[] Open(int size) => JoinAll(Enumerable.Repeat(_groups, size).ToArray());

    private IProcessGroup[] Open(InProcessGroups groups, string id, int size) =>
        OnEveryRank(size, r => Own(groups.Join(id, r, new string?[size], Bound)));

    [Fact]
    public void All_to_all_hands_over_the_sent_arrays_themselves()
    {
        var group = Open(2);
        float[][][] sends = [[[0f], [10f]], [[1f], [11f]]];
        var received = OnEveryRank(2, r => group[r].AllToAll(sends[r]));
        Assert.Same(sends[0][1], received[1][0]);
        Assert.Same(sends[1][0], received[0][1]);
    }

    [Fact]
    public void A_group_leaves_the_registry_when_its_ranks_leave_or_one_aborts()
    {
        var left = Open(_groups, "left", 3);
        Assert.Equal(1, _groups.OpenGroups);
        foreach (var g in left) g.Dispose();
        Assert.Equal(0, _groups.OpenGroups);
        var aborted = Open(_groups, "aborted", 2);
        aborted[1].Abort("test");
        Assert.Equal(0, _groups.OpenGroups);
        // the id is free again: the next attempt's group starts afresh
        var again = Open(_groups, "aborted", 2);
        OnEveryRank(again, g => g.AllReduceSum(new float[3]));
    }

    [Fact]
    public void A_join_that_the_others_never_complete_times_out_and_frees_the_id()
    {
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CollectiveAbortedException>(() => _groups.Join("lonely", 0, new string?[3], TimeSpan.FromMilliseconds(300)));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));
        Assert.Contains("ranks 1, 2", error.Message);
        Assert.Equal(0, _groups.OpenGroups);
    }

    [Fact]
    public void A_call_the_others_never_make_times_out_for_every_rank()
    {
        var groups = new InProcessGroups(callTimeout: TimeSpan.FromMilliseconds(300));
        var group = Open(groups, "slow", 2);
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CollectiveAbortedException>(() => group[0].AllReduceSum(new float[4]));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));
        Assert.Contains("waited", error.Message);
        Assert.Throws<CollectiveAbortedException>(() => group[1].AllReduceSum(new float[4]));
    }

    [Fact]
    public async Task A_rank_cannot_join_twice_nor_a_group_change_size()
    {
        var first = Task.Factory.StartNew(() => _groups.Join("twice", 0, new string?[2], Bound), TaskCreationOptions.LongRunning);
        SpinWait.SpinUntil(() => _groups.OpenGroups == 1, Bound);
        Assert.Throws<ArgumentException>(() => _groups.Join("twice", 0, new string?[2], Bound));
        Assert.Throws<ArgumentException>(() => _groups.Join("twice", 1, new string?[3], Bound));
        Own(_groups.Join("twice", 1, new string?[2], Bound));
        Own(await first.WaitAsync(Bound));
    }
}
