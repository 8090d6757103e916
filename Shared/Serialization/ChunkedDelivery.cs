using System.Diagnostics;
using Akka.Actor;
using MtnnCluster.Messages;
using MtnnCluster.Telemetry;
using MtnnCluster.Transport;

namespace MtnnCluster.Serialization;

/// <summary>
/// Sends protocol messages so that none exceeds Akka's frame size: to a local actor as they are (no socket, no
/// copy), to a remote one whole when small, and when large as a <see cref="BlobOffer"/> whose bytes travel on the
/// TCP <see cref="DataPlane"/> (or, with the data plane off, in <see cref="MessageChunk"/>s of
/// <see cref="ChunkBytes"/> through Akka). Akka drops an oversized frame with only a log line on the sender, so
/// nothing large may go out any other way. A large message on the data plane can be overtaken by a small one sent
/// after it to the same actor (the protocol's rounds never depend on that order; the chunk path keeps it).
/// </summary>
public sealed class ChunkedDelivery(ExtendedActorSystem system)
{
    /// <summary>Payload per chunk: with the envelope, well under the default 128,000-byte frame.</summary>
    public const int ChunkBytes = 64 * 1024;

    private readonly MtnnMessageSerializer _serializer = new(system);
    private readonly DataPlane _dataPlane = DataPlane.Get(system);
    private readonly Dictionary<Type, int> _sizeHints = [];
    private long _nextTransfer = DateTime.UtcNow.Ticks;
    private Serialized? _last;

    /// <summary>A large message serialized once, with its checksum: a broadcast (the same trunk to every worker) reuses it.</summary>
    private sealed record Serialized(IMtnnMessage Message, PooledBytes Bytes, byte[] Checksum, string Manifest);

    /// <summary>Bytes sent in chunks through Akka so far (for exchange metrics).</summary>
    public long ChunkedBytesSent { get; private set; }

    /// <summary>Bytes offered on the data plane so far.</summary>
    public long DataPlaneBytesSent { get; private set; }

    /// <summary>One line on what went to remote actors, or null when nothing large did.</summary>
    public string? Summary =>
        ChunkedBytesSent + DataPlaneBytesSent == 0 ? null
        : $"exchange: {DataPlaneBytesSent / 1e6:F1} MB sent to remote actors on the TCP data plane, {ChunkedBytesSent / 1e6:F1} MB in {ChunkBytes / 1024} KiB chunks through Akka";

    public void Send(IActorRef target, IMtnnMessage message, IActorRef sender)
    {
        if (target.Path.Address.HasLocalScope || message is MessageChunk or BlobOffer)
        {
            target.Tell(message, sender);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        if (Large(message) is not { } large)
        {
            target.Tell(message, sender);
            return;
        }
        using var span = MtnnTelemetry.Source.StartActivity("mtnn.exchange.send");
        var runId = message is IRunMessage run ? run.RunId : "";
        var whole = large.Bytes.Span;
        span?.SetTag("message", message.GetType().Name).SetTag("bytes", whole.Length).SetTag("target", target.Path.Address.ToString());
        MtnnTelemetry.Exchanged("sent", message.GetType().Name, whole.Length, started);
        if (_dataPlane.Settings.Enabled)
        {
            DataPlaneBytesSent += whole.Length;
            target.Tell(_dataPlane.Offer(large.Bytes.Share(), large.Checksum, large.Manifest, runId), sender);
            return;
        }
        var transfer = Interlocked.Increment(ref _nextTransfer);
        var count = (whole.Length + ChunkBytes - 1) / ChunkBytes;
        for (var i = 0; i < count; i++)
        {
            var piece = whole.Slice(i * ChunkBytes, Math.Min(ChunkBytes, whole.Length - i * ChunkBytes)).ToArray();
            target.Tell(new MessageChunk(runId, transfer, large.Manifest, i, count, whole.Length, large.Checksum, piece), sender);
        }
        ChunkedBytesSent += whole.Length;
    }

    /// <summary>
    /// Fetches a message offered on the data plane and hands it to <paramref name="self"/> as if it came from
    /// <paramref name="sender"/>; never blocks the actor. An offer for another run is dropped.
    /// </summary>
    public void Fetch(BlobOffer offer, IActorRef self, IActorRef sender, string? expectedRunId) =>
        _dataPlane.Deliver(offer, self, sender, expectedRunId);

    /// <summary>
    /// The message serialized into a pooled buffer sized by the last message of its type, and hashed; null when it
    /// fits in one frame. The same message sent again (records compare their tensors by reference) is not
    /// serialized again.
    /// </summary>
    private Serialized? Large(IMtnnMessage message)
    {
        if (_last is { } last && last.Message.Equals(message)) return last;
        var type = message.GetType();
        using var writer = new PooledBufferWriter(_sizeHints.GetValueOrDefault(type, 4096));
        _serializer.Serialize(writer, message);
        _sizeHints[type] = writer.WrittenCount + 1024;
        if (writer.WrittenCount <= ChunkBytes) return null;
        var bytes = writer.Detach();
        _last?.Bytes.Dispose();
        _last = new Serialized(message, bytes, TransferChecksum.Of(bytes.Span), _serializer.Manifest(message));
        return _last;
    }
}

/// <summary>
/// Reassembles chunked messages, bounded in memory (total bytes in flight, size of one message) and in time (a
/// transfer left incomplete is dropped). Malformed, foreign or inconsistent chunks are dropped and counted.
/// </summary>
public sealed class ChunkAssembler(ExtendedActorSystem system, long maxMessageBytes = ProtocolLimits.MaxMessageBytes, long maxBytesInFlight = 4L << 30)
{
    private sealed class Transfer(MessageChunk first, DateTime started)
    {
        public MessageChunk First { get; } = first;
        public byte[]?[] Pieces { get; } = new byte[first.Count][];
        public int Received { get; set; }
        public DateTime Started { get; } = started;
        public long StartTimestamp { get; } = Stopwatch.GetTimestamp();
    }

    private readonly MtnnMessageSerializer _serializer = new(system);
    private readonly Dictionary<(string Sender, long Transfer), Transfer> _transfers = [];
    private long _bytesInFlight;

    public long Dropped { get; private set; }

    /// <summary>Bytes reserved by incomplete transfers (their declared totals); never above the in-flight limit.</summary>
    public long BytesInFlight => _bytesInFlight;

    public static TimeSpan Timeout { get; } = TimeSpan.FromMinutes(2);

    /// <summary>Adds a chunk; returns the whole message when this chunk completes it, otherwise null.</summary>
    public IMtnnMessage? Add(MessageChunk chunk, IActorRef sender, string? expectedRunId)
    {
        ExpireOld();
        if (!WellFormed(chunk) || (expectedRunId is not null && chunk.RunId != expectedRunId))
        {
            Dropped++;
            return null;
        }
        var key = (sender.Path.ToString(), chunk.TransferId);
        if (!_transfers.TryGetValue(key, out var transfer))
        {
            if (_bytesInFlight + chunk.TotalBytes > maxBytesInFlight)
            {
                Dropped++;
                return null;
            }
            transfer = new Transfer(chunk, DateTime.UtcNow);
            _transfers[key] = transfer;
            _bytesInFlight += chunk.TotalBytes;
        }
        var first = transfer.First;
        if (chunk.Count != first.Count || chunk.TotalBytes != first.TotalBytes || chunk.Manifest != first.Manifest
            || !chunk.Checksum.AsSpan().SequenceEqual(first.Checksum) || transfer.Pieces[chunk.Index] is not null)
        {
            Dropped++;
            return null;
        }
        transfer.Pieces[chunk.Index] = chunk.Bytes;
        if (++transfer.Received < first.Count) return null;

        Remove(key, transfer);
        using var pooled = PooledBytes.Rent(first.TotalBytes); // a fresh array of this size would cost more in page faults than the copy
        var whole = pooled.Span;
        var offset = 0;
        foreach (var piece in transfer.Pieces)
        {
            if (offset + piece!.Length > whole.Length) { Dropped++; return null; }
            piece.CopyTo(whole[offset..]);
            offset += piece.Length;
        }
        if (offset != whole.Length || !TransferChecksum.Matches(whole, first.Checksum))
        {
            Dropped++;
            return null;
        }
        try
        {
            var message = (IMtnnMessage)_serializer.FromBinary(pooled.Memory, first.Manifest, TensorArrayPool.Shared); // its consumer returns the tensors
            MtnnTelemetry.Exchanged("received", message.GetType().Name, whole.Length, transfer.StartTimestamp);
            return message;
        }
        catch (System.Runtime.Serialization.SerializationException)
        {
            Dropped++; // intact bytes of a malformed or unknown message: a peer's bug or a hostile peer, never ours to crash on
            return null;
        }
    }

    private bool WellFormed(MessageChunk c) =>
        c.Count > 0 && c.Index >= 0 && c.Index < c.Count && c.TotalBytes > 0 && c.TotalBytes <= maxMessageBytes
        && c.Checksum.Length == TransferChecksum.Bytes && c.Bytes.Length > 0 && c.Bytes.Length <= ChunkedDelivery.ChunkBytes
        && c.Count == (c.TotalBytes + (long)ChunkedDelivery.ChunkBytes - 1) / ChunkedDelivery.ChunkBytes; // a forged count must not size the piece table

    private void ExpireOld()
    {
        var now = DateTime.UtcNow;
        foreach (var (key, transfer) in _transfers.Where(t => now - t.Value.Started > Timeout).ToArray())
        {
            Remove(key, transfer);
            Dropped++;
        }
    }

    private void Remove((string, long) key, Transfer transfer)
    {
        _transfers.Remove(key);
        _bytesInFlight -= transfer.First.TotalBytes;
    }
}
