using Akka.Actor;
using Akka.TestKit.Xunit2;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Transport;
using Xunit;

namespace MtnnCluster.Tests.Serialization;

public sealed class ChunkAssemblerTests : TestKit
{
    private readonly ExtendedActorSystem _system;
    private readonly MtnnMessageSerializer _serializer;

    public ChunkAssemblerTests() : base("mtnn.data-plane.enabled = off") // the chunk path, as with --data-plane off
    {
        _system = (ExtendedActorSystem)Sys;
        _serializer = new MtnnMessageSerializer(_system);
    }

    private static HeadShard Gradient(int bytes) =>
        new("run-1", "w", [0], new TensorData("g", [bytes / 4], Enumerable.Range(0, bytes).Select(i => (byte)(i * 7)).ToArray()), new TensorData("b", [1], new byte[4]));

    private List<MessageChunk> Chunks(IMtnnMessage message, long transfer = 1)
    {
        var bytes = _serializer.ToBinary(message);
        var hash = TransferChecksum.Of(bytes);
        var count = (bytes.Length + ChunkedDelivery.ChunkBytes - 1) / ChunkedDelivery.ChunkBytes;
        return Enumerable.Range(0, count).Select(i => new MessageChunk("run-1", transfer, _serializer.Manifest(message), i, count, bytes.Length, hash,
            bytes.AsSpan(i * ChunkedDelivery.ChunkBytes, Math.Min(ChunkedDelivery.ChunkBytes, bytes.Length - i * ChunkedDelivery.ChunkBytes)).ToArray())).ToList();
    }

    [Fact]
    public void A_large_message_is_reassembled_from_chunks_in_any_order()
    {
        var message = Gradient(1_000_000);
        var chunks = Chunks(message);
        Assert.True(chunks.Count > 10);
        var assembler = new ChunkAssembler(_system);
        IMtnnMessage? whole = null;
        foreach (var chunk in chunks.AsEnumerable().Reverse()) whole = assembler.Add(chunk, TestActor, "run-1") ?? whole;
        var gradient = Assert.IsType<HeadShard>(whole);
        Assert.Equal(message.Weight.Bytes, gradient.Weight.Bytes);
        Assert.Equal(0, assembler.Dropped);
    }

    [Fact]
    public void Foreign_duplicate_corrupt_and_oversized_chunks_are_dropped_and_counted()
    {
        var chunks = Chunks(Gradient(300_000));
        var assembler = new ChunkAssembler(_system, maxMessageBytes: 1_000_000);
        Assert.Null(assembler.Add(chunks[0] with { RunId = "other-run" }, TestActor, "run-1"));
        Assert.Null(assembler.Add(chunks[0], TestActor, "run-1"));
        Assert.Null(assembler.Add(chunks[0], TestActor, "run-1")); // duplicate
        Assert.Null(assembler.Add(chunks[1] with { TotalBytes = chunks[1].TotalBytes + 1 }, TestActor, "run-1")); // inconsistent
        Assert.Null(assembler.Add(chunks[1] with { TransferId = 9, Index = 99 }, TestActor, "run-1")); // index out of range
        Assert.Null(assembler.Add(chunks[1] with { TransferId = 10, TotalBytes = 5_000_000, Count = 80 }, TestActor, "run-1")); // over the limit
        Assert.Equal(5, assembler.Dropped);

        var damaged = chunks[2].Bytes.ToArray();
        damaged[12_345] ^= 0x10; // one bit
        var corrupt = chunks.Select((c, i) => i == 2 ? c with { Bytes = damaged } : c).ToList();
        var other = new ChunkAssembler(_system);
        Assert.All(corrupt, c => Assert.Null(other.Add(c with { TransferId = 2 }, TestActor, "run-1")));
        Assert.Equal(1, other.Dropped); // the checksum catches it once the transfer is complete
    }

    [Fact]
    public void Delivery_to_a_remote_actor_never_sends_a_frame_larger_than_a_chunk()
    {
        var probe = CreateTestProbe();
        var delivery = new ChunkedDelivery(_system);
        var remoteLooking = new RemoteLookingRef(probe.Ref);
        delivery.Send(remoteLooking, Gradient(500_000), TestActor);
        var assembler = new ChunkAssembler(_system);
        IMtnnMessage? whole = null;
        var chunks = 0;
        while (whole is null && chunks < 100)
        {
            var chunk = probe.ExpectMsg<MessageChunk>();
            Assert.True(chunk.Bytes.Length <= ChunkedDelivery.ChunkBytes);
            chunks++;
            whole = assembler.Add(chunk, TestActor, "run-1");
        }
        Assert.IsType<HeadShard>(whole);
        Assert.True(chunks > 1);

        delivery.Send(remoteLooking, new FetchHeads("run-1"), TestActor); // small: sent whole
        probe.ExpectMsg<FetchHeads>();
    }

    /// <summary>Forwards to a local probe but carries a remote address, as a worker on another node would.</summary>
    private sealed class RemoteLookingRef(IActorRef inner) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(new Address("akka.tcp", "mtnn", "10.0.0.1", 4053)) / "user" / "worker";
        public override IActorRefProvider Provider => throw new NotSupportedException();
        protected override void TellInternal(object message, IActorRef sender) => inner.Tell(message, sender);
    }
}
