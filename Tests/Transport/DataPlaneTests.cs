using System.Security.Cryptography;
using Akka.Actor;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Transport;
using Xunit;

namespace MtnnCluster.Tests.Transport;

/// <summary>The TCP data plane on real sockets (127.0.0.1): the store and its server, the client's checks, and two remote actor systems.</summary>
public sealed class DataPlaneTests
{
    private static readonly TimeSpan Connect = TimeSpan.FromSeconds(5), Io = TimeSpan.FromSeconds(10);

    private static PooledBytes Bytes(int length, int seed = 1)
    {
        var bytes = PooledBytes.Rent(length);
        new Random(seed).NextBytes(bytes.Span);
        return bytes;
    }

    private static (BlobOffer Offer, byte[] Copy) Put(BlobStore store, BlobServer server, int length)
    {
        var bytes = Bytes(length);
        var copy = bytes.Span.ToArray();
        var (id, token) = store.Add(bytes);
        return (new BlobOffer("run-1", id, "tgrad.3", "127.0.0.1", server.Port, length, TransferChecksum.Of(copy), token), copy);
    }

    private static BlobServer Serve(BlobStore store) => new(store, "127.0.0.1", Io, _ => { });

    [Fact]
    public async Task A_blob_travels_whole_and_is_acknowledged()
    {
        using var store = new BlobStore(1 << 26, TimeSpan.FromMinutes(1));
        using var server = Serve(store);
        var (offer, copy) = Put(store, server, 17_190_400);
        using var fetched = await BlobClient.FetchAsync(offer, 1 << 26, Connect, Io);
        Assert.Equal(copy, fetched.Span.ToArray());
        Assert.Equal(0, store.Count);
        for (var i = 0; i < 100 && server.Acknowledged == 0; i++) await Task.Delay(20);
        Assert.Equal(1, server.Acknowledged);
    }

    [Fact]
    public async Task A_checksum_mismatch_is_rejected()
    {
        using var store = new BlobStore(1 << 20, TimeSpan.FromMinutes(1));
        using var server = Serve(store);
        var (offer, _) = Put(store, server, 100_000);
        var wrongHash = offer.Checksum.ToArray();
        wrongHash[0] ^= 1;
        var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer with { Checksum = wrongHash }, 1 << 20, Connect, Io));
        Assert.Contains(TransferChecksum.Name, error.Message);
    }

    [Fact]
    public async Task A_byte_damaged_in_transit_is_detected()
    {
        using var store = new BlobStore(1 << 22, TimeSpan.FromMinutes(1));
        using var server = Serve(store);
        var random = new Random(3);
        for (var trial = 0; trial < 5; trial++)
        {
            var bytes = Bytes(3_000_000, seed: trial);
            var offer = new BlobOffer("run-1", 0, "tgrad.3", "127.0.0.1", server.Port, bytes.Length, TransferChecksum.Of(bytes.Span), []);
            bytes.Span[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8)); // one bit flipped after the sender's checksum
            var (id, token) = store.Add(bytes);
            var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer with { TransferId = id, Token = token }, 1 << 22, Connect, Io));
            Assert.Contains($"{TransferChecksum.Name} checksum", error.Message);
        }
    }

    [Fact]
    public async Task A_wrong_token_is_refused_and_a_token_opens_its_blob_once()
    {
        using var store = new BlobStore(1 << 20, TimeSpan.FromMinutes(1));
        using var server = Serve(store);
        var (offer, copy) = Put(store, server, 70_000);
        var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer with { Token = RandomNumberGenerator.GetBytes(32) }, 1 << 20, Connect, Io));
        Assert.Contains(nameof(BlobLookup.WrongToken), error.Message);

        using (var fetched = await BlobClient.FetchAsync(offer, 1 << 20, Connect, Io)) Assert.Equal(copy, fetched.Span.ToArray());
        error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer, 1 << 20, Connect, Io));
        Assert.Contains(nameof(BlobLookup.UnknownOrExpired), error.Message);
    }

    [Fact]
    public async Task An_unfetched_blob_expires()
    {
        using var store = new BlobStore(1 << 20, TimeSpan.FromMilliseconds(150));
        using var server = Serve(store);
        var (offer, _) = Put(store, server, 70_000);
        await Task.Delay(400);
        var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer, 1 << 20, Connect, Io));
        Assert.Contains(nameof(BlobLookup.UnknownOrExpired), error.Message);
        Assert.Equal(1, store.Expired);

        Put(store, server, 1_000);
        await Task.Delay(400);
        Assert.Equal(1, store.Expire());
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task Oversized_blobs_are_refused_by_sender_and_receiver()
    {
        using var store = new BlobStore(100_000, TimeSpan.FromMinutes(1));
        Assert.Contains("over the 100000-byte limit", Assert.Throws<InvalidOperationException>(() => store.Add(Bytes(100_001))).Message);
        Assert.Equal(0, store.Count);

        using var server = Serve(store);
        var (offer, _) = Put(store, server, 90_000);
        var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer, 80_000, Connect, Io));
        Assert.Contains("outside the accepted", error.Message);
        Assert.Equal(1, store.Count); // the receiver never asked for it
    }

    [Fact]
    public async Task A_lying_length_is_rejected()
    {
        using var store = new BlobStore(1 << 20, TimeSpan.FromMinutes(1));
        using var server = Serve(store);
        var (offer, _) = Put(store, server, 70_000);
        var error = await Assert.ThrowsAsync<BlobFetchException>(() => BlobClient.FetchAsync(offer with { Length = 69_999 }, 1 << 20, Connect, Io));
        Assert.Contains("the offer said 69999", error.Message);
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(TaskCompletionSource<(object Message, string Sender)> received)
        {
            var delivery = new ChunkedDelivery((ExtendedActorSystem)Context.System);
            var assembler = new ChunkAssembler((ExtendedActorSystem)Context.System);
            Receive<BlobOffer>(offer => delivery.Fetch(offer, Self, Sender, "run-1"));
            Receive<MessageChunk>(chunk =>
            {
                if (assembler.Add(chunk, Sender, "run-1") is { } whole) Self.Tell(whole, Sender);
            });
            ReceiveAny(m => received.TrySetResult((m, Sender.Path.ToString())));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_large_message_reaches_remote_actors_from_its_sender(bool dataPlane)
    {
        using var sending = LoopbackSystem.Create("a", dataPlane);
        using var receiving = LoopbackSystem.Create("b", dataPlane);
        var receivingAddress = ((ExtendedActorSystem)receiving).Provider.DefaultAddress;
        var received = new List<TaskCompletionSource<(object Message, string Sender)>>();
        var targets = new List<IActorRef>();
        foreach (var name in new[] { "first", "second" })
        {
            var tcs = new TaskCompletionSource<(object Message, string Sender)>(TaskCreationOptions.RunContinuationsAsynchronously);
            receiving.ActorOf(Props.Create(() => new Recorder(tcs)), name);
            received.Add(tcs);
            targets.Add(await sending.ActorSelection($"{receivingAddress}/user/{name}").ResolveOne(TimeSpan.FromSeconds(10)));
        }
        var from = sending.ActorOf(Props.Empty, "from");

        var payload = RandomNumberGenerator.GetBytes(3_000_000);
        var message = new HeadShard("run-1", "w", [0], new TensorData("g", [payload.Length / 4], payload), new TensorData("b", [1], new byte[4]));
        var delivery = new ChunkedDelivery((ExtendedActorSystem)sending);
        foreach (var target in targets) delivery.Send(target, message, from); // a broadcast: serialized once, offered twice

        foreach (var tcs in received)
        {
            var (got, sender) = await tcs.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var gradient = Assert.IsType<HeadShard>(got);
            Assert.Equal(payload, gradient.Weight.Bytes);
            Assert.True(TensorArrayPool.Shared.Return(gradient.Weight.Bytes)); // lent to the message: its consumer returns it
            Assert.Equal(from.Path.ToStringWithAddress(((ExtendedActorSystem)sending).Provider.DefaultAddress), sender);
        }
        Assert.Equal(dataPlane ? 0 : 2 * payload.Length, delivery.ChunkedBytesSent, 2000.0);
        Assert.Equal(dataPlane ? 2 * payload.Length : 0, delivery.DataPlaneBytesSent, 2000.0);
        if (dataPlane)
        {
            Assert.Equal(2, DataPlane.Get(receiving).Fetched);
            Assert.Equal(0, DataPlane.Get(sending).Store.Count);
        }
    }
}
