using Akka.Actor;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Transport;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Transport;

/// <summary>
/// The pool that received tensors borrow their arrays from: an array is handed out again only after the one
/// consumer that holds it has returned it, and what the pool did not lend (or has taken back) is never recycled.
/// </summary>
public sealed class TensorArrayPoolTests : IDisposable
{
    private const int Large = 1_000_004; // over MinBytes, not a whole number of pages
    private readonly ActorSystem _system = ActorSystem.Create("pool-tests");
    private readonly MtnnMessageSerializer _serializer;

    public TensorArrayPoolTests() => _serializer = new MtnnMessageSerializer((ExtendedActorSystem)_system);

    public void Dispose() => _system.Dispose();

    [Fact]
    public void A_lent_array_is_not_handed_out_again_until_returned()
    {
        var pool = new TensorArrayPool();
        var first = pool.Rent(Large);
        var second = pool.Rent(Large);
        Assert.NotSame(first, second);
        Assert.Equal(Large, first.Length);

        Assert.True(pool.Return(first));
        var third = pool.Rent(Large);
        Assert.Same(first, third); // reused: its pages are mapped already
        Assert.NotSame(second, pool.Rent(Large)); // the second is still lent
        Assert.Equal(1, pool.Reused);
        Assert.Equal(3, pool.Allocated);
        Assert.Equal(2_000_000, pool.Rent(2_000_000).Length); // exact lengths: another size is never served from these
    }

    [Fact]
    public void Arrays_the_pool_did_not_lend_or_took_back_already_are_ignored()
    {
        var pool = new TensorArrayPool();
        var own = new byte[Large]; // e.g. a tensor that never left its process, still held by a snapshot
        Assert.False(pool.Return(own));
        Assert.NotSame(own, pool.Rent(Large));

        var lent = pool.Rent(Large);
        Assert.True(pool.Return(lent));
        Assert.False(pool.Return(lent)); // a second return must not put it in the free list twice
        var a = pool.Rent(Large);
        var b = pool.Rent(Large);
        Assert.Same(lent, a);
        Assert.NotSame(a, b); // so two owners never share it
        Assert.Equal(0, pool.FreeBytes);
    }

    [Fact]
    public void Racing_returns_of_one_array_take_it_back_once()
    {
        var pool = new TensorArrayPool();
        for (var round = 0; round < 50; round++)
        {
            var lent = pool.Rent(Large);
            var results = new bool[4];
            Parallel.For(0, results.Length, i => results[i] = pool.Return(lent));
            Assert.Equal(1, results.Count(r => r));
            Assert.Same(lent, pool.Rent(Large));
        }
    }

    [Fact]
    public void Small_arrays_are_not_lent_and_the_pool_keeps_no_more_than_its_limit()
    {
        var pool = new TensorArrayPool(maxFreeBytes: 2L * Large);
        Assert.False(pool.Return(pool.Rent(TensorArrayPool.MinBytes - 1)));
        var lent = Enumerable.Range(0, 3).Select(_ => pool.Rent(Large)).ToArray();
        Assert.All(lent, a => Assert.True(pool.Return(a)));
        Assert.Equal(2L * Large, pool.FreeBytes);
    }

    [Fact]
    public void Only_messages_received_from_another_node_borrow_from_the_pool()
    {
        var pool = new TensorArrayPool();
        var message = Step(1);
        var bytes = _serializer.ToBinary(message);
        var decoded = (HeadShard)_serializer.FromBinary(bytes, _serializer.Manifest(message)); // a checkpoint, a test: no pool
        Assert.False(pool.Return(decoded.Weight.Bytes));
        var received = (HeadShard)_serializer.FromBinary(bytes, _serializer.Manifest(message), pool);
        Assert.Equal(1, pool.Return([received.Weight, received.Bias])); // the large tensor; the small bias is a plain array
    }

    [Fact]
    public void Large_tensors_round_trip_exactly_through_reused_arrays()
    {
        var pool = new TensorArrayPool();
        byte[]? previous = null;
        for (var seed = 1; seed <= 4; seed++)
        {
            var message = Step(seed);
            var received = (HeadShard)_serializer.FromBinary(_serializer.ToBinary(message), _serializer.Manifest(message), pool);
            Assert.True(message.Weight.Bytes.AsSpan().SequenceEqual(received.Weight.Bytes), $"message {seed}, weight");
            Assert.True(message.Bias.Bytes.AsSpan().SequenceEqual(received.Bias.Bytes), $"message {seed}, bias");
            if (previous is not null) Assert.Same(previous, received.Weight.Bytes); // every byte of the last message's was overwritten
            previous = received.Weight.Bytes;
            pool.Return([received.Weight, received.Bias]);
        }
        Assert.Equal(3, pool.Reused);
    }

    [Fact]
    public void Loading_a_trunk_copies_it_so_its_arrays_can_go_back_to_the_pool()
    {
        // the worker returns a received trunk as soon as its trainer has loaded it: Trunk.Load must keep no reference
        using var trunk = new FingerprintTrunk(500, [600, 10], 3, CPU);
        using var source = new FingerprintTrunk(500, [600, 10], 4, CPU);
        var sent = source.Export();
        var expected = sent.Select(t => t.Bytes.ToArray()).ToArray();
        trunk.Load(sent);
        foreach (var t in sent) Array.Fill(t.Bytes, (byte)0xFF); // what the pool's next message writes over them
        var loaded = trunk.Export();
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], loaded[i].Bytes);
    }

    private static HeadShard Step(int seed)
    {
        var random = new Random(seed);
        var weight = new byte[Large];
        var bias = new byte[400];
        random.NextBytes(weight);
        random.NextBytes(bias);
        return new HeadShard("r", "w", [0], new TensorData("heads.weight", [Large / 4], weight), new TensorData("heads.bias", [100], bias));
    }
}
