using System.Diagnostics;
using MtnnCluster.Collectives;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

/// <summary>What every <see cref="IProcessGroup"/> does, run against each implementation.</summary>
public abstract class ProcessGroupContract : RankTest
{
    /// <summary>The <paramref name="size"/> ranks of a fresh group, joined concurrently.</summary>
    protected abstract IProcessGroup[] Open(int size);

    private static float[] Sent(int from, int to, int length) => Enumerable.Range(0, length).Select(i => from * 10_000f + to * 100 + i).ToArray();

    // Lengths differ by pair and include empty arrays.
    private static int Length(int from, int to, int round) => (from * 7 + to * 3 + round) % 11;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void All_to_all_delivers_each_array_to_its_rank(int size)
    {
        var group = Open(size);
        OnEveryRank(group, g =>
        {
            for (var round = 0; round < 3; round++)
            {
                var send = Enumerable.Range(0, size).Select(p => Sent(g.Rank, p, Length(g.Rank, p, round))).ToArray();
                var received = g.AllToAll(send);
                Assert.Equal(size, received.Length);
                Assert.Same(send[g.Rank], received[g.Rank]);
                for (var p = 0; p < size; p++) Assert.Equal(Sent(p, g.Rank, Length(p, g.Rank, round)), received[p]);
            }
        });
        for (var r = 0; r < size; r++)
        {
            var expected = Enumerable.Range(0, 3).Sum(round => Enumerable.Range(0, size).Where(p => p != r).Sum(p => Length(r, p, round))) * sizeof(float);
            Assert.Equal(expected, group[r].BytesSent);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void All_reduce_sums_exactly_whatever_the_length(int size)
    {
        var group = Open(size);
        foreach (var length in new[] { 0, 1, 5, 1001 })
        {
            var results = OnEveryRank(size, r =>
            {
                var buffer = Enumerable.Range(0, length).Select(i => (float)(r * 1000 + i)).ToArray();
                group[r].AllReduceSum(buffer);
                return buffer;
            });
            var expected = Enumerable.Range(0, length).Select(i => (float)Enumerable.Range(0, size).Sum(r => r * 1000 + i)).ToArray();
            foreach (var result in results) Assert.Equal(expected, result);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void All_reduce_gives_every_rank_the_same_bits(int size)
    {
        var group = Open(size);
        var results = OnEveryRank(size, r =>
        {
            var random = new Random(r);
            var buffer = Enumerable.Range(0, 10_007).Select(_ => (float)(random.NextDouble() * 2 - 1) * MathF.Pow(10, random.Next(-6, 6))).ToArray();
            var inputs = buffer.ToArray();
            group[r].AllReduceSum(buffer);
            return (Inputs: inputs, Sum: buffer);
        });
        foreach (var (_, sum) in results.Skip(1)) Assert.Equal(Bits(results[0].Sum), Bits(sum));
        // the sum itself, up to rounding in whatever order each chunk was summed
        for (var i = 0; i < 10_007; i += 101)
            Assert.Equal(results.Sum(x => (double)x.Inputs[i]), results[0].Sum[i], Math.Max(1e-6, results.Max(x => Math.Abs(x.Inputs[i])) * 1e-5));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Reduce_scatter_leaves_each_rank_the_sum_of_its_chunk_and_all_gather_shares_the_chunks(int size)
    {
        // the sharded optimizer's pair: rank r updates its summed chunk (here: negates it), then all take every chunk
        var group = Open(size);
        foreach (var length in new[] { 0, 1, 3, 1001, 70_001 }) // the last large enough for shared memory between processes
        {
            var results = OnEveryRank(size, r =>
            {
                var buffer = Enumerable.Range(0, length).Select(i => (float)(r * 1000 + i % 5000)).ToArray();
                group[r].ReduceScatterSum(buffer);
                var (start, count) = GroupChunks.Of(length, size, r);
                var summed = buffer.AsSpan(start, count).ToArray();
                for (var i = start; i < start + count; i++) buffer[i] = -buffer[i];
                group[r].AllGather(buffer);
                return (Summed: summed, Gathered: buffer);
            });
            var sums = Enumerable.Range(0, length).Select(i => (float)Enumerable.Range(0, size).Sum(r => r * 1000 + i % 5000)).ToArray();
            for (var r = 0; r < size; r++)
            {
                var (start, count) = GroupChunks.Of(length, size, r);
                Assert.Equal(sums.AsSpan(start, count).ToArray(), results[r].Summed);
                Assert.Equal(sums.Select(x => -x).ToArray(), results[r].Gathered);
            }
        }
    }

    [Fact]
    public void Chunks_cover_the_buffer_in_rank_order()
    {
        foreach (var (length, size) in new[] { (0, 3), (1, 3), (10, 3), (1001, 4), (7, 7) })
        {
            var next = 0;
            for (var r = 0; r < size; r++)
            {
                var (start, count) = GroupChunks.Of(length, size, r);
                Assert.Equal(next, start);
                Assert.InRange(count, length / size, length / size + 1);
                next = start + count;
            }
            Assert.Equal(length, next);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void A_trunk_sized_buffer_is_reduced(int size)
    {
        const int trunkFloats = 2_300_000;
        var group = Open(size);
        var results = OnEveryRank(size, r =>
        {
            var buffer = new float[trunkFloats];
            for (var i = 0; i < buffer.Length; i++) buffer[i] = (i % 1000) + r;
            group[r].AllReduceSum(buffer);
            return buffer;
        });
        var offset = Enumerable.Range(0, size).Sum();
        foreach (var result in results)
            for (var i = 0; i < trunkFloats; i += 997)
                Assert.Equal(size * (i % 1000) + offset, result[i]);
        Assert.Equal(Bits(results[0]), Bits(results[^1]));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Abort_on_one_rank_fails_the_others_pending_calls_at_once(int size)
    {
        var group = Open(size);
        var failures = OnEveryRank(size, r =>
        {
            if (r == 0)
            {
                Thread.Sleep(200);
                group[0].Abort("test");
                return TimeSpan.Zero;
            }
            var clock = Stopwatch.StartNew();
            Assert.Throws<CollectiveAbortedException>(() => group[r].AllReduceSum(new float[1000]));
            return clock.Elapsed;
        });
        Assert.All(failures, f => Assert.True(f < TimeSpan.FromSeconds(2), $"a peer took {f} to fail"));
        Assert.Contains("aborted: test", Assert.Throws<CollectiveAbortedException>(() => group[0].AllToAll(new float[size][])).Message);
    }

    [Fact]
    public void Ranks_in_different_collectives_fail_instead_of_mixing_them()
    {
        var group = Open(2);
        OnEveryRank(group, g => Assert.Throws<CollectiveAbortedException>(() =>
        {
            if (g.Rank == 0) g.AllToAll([[1f], [2f]]);
            else g.AllReduceSum(new float[10]);
        }));
    }

    [Fact]
    public void A_group_of_one_hands_back_what_it_is_given()
    {
        var single = Open(1)[0];
        var send = new[] { new[] { 1f, 2f } };
        Assert.Same(send[0], single.AllToAll(send)[0]);
        var buffer = new[] { 3f, 4f };
        single.AllReduceSum(buffer);
        Assert.Equal([3f, 4f], buffer);
        Assert.Equal(0, single.BytesSent);
    }

    protected static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
