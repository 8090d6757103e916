using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using MtnnCluster.Messages;
using MtnnCluster.Telemetry;

namespace MtnnCluster.Serialization;

/// <summary>
/// Sends protocol messages so that none exceeds Akka's frame size: to a local actor as they are, to a remote one
/// whole when small, in <see cref="MessageChunk"/>s of <see cref="ChunkBytes"/> when large. Akka drops an
/// oversized frame with only a log line on the sender, so nothing large may go out any other way.
/// </summary>
public sealed class ChunkedDelivery(ExtendedActorSystem system)
{
    /// <summary>Payload per chunk: with the envelope, well under the default 128,000-byte frame.</summary>
    public const int ChunkBytes = 64 * 1024;

    private readonly MtnnMessageSerializer _serializer = new(system);
    private long _nextTransfer = DateTime.UtcNow.Ticks;

    /// <summary>Bytes sent in chunks so far (for exchange metrics).</summary>
    public long ChunkedBytesSent { get; private set; }

    public void Send(IActorRef target, IMtnnMessage message, IActorRef sender)
    {
        if (target.Path.Address.HasLocalScope || message is MessageChunk)
        {
            target.Tell(message, sender);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        var bytes = _serializer.ToBinary(message);
        if (bytes.Length <= ChunkBytes)
        {
            target.Tell(message, sender);
            MtnnTelemetry.Exchanged("sent", message.GetType().Name, bytes.Length, started);
            return;
        }
        using var span = MtnnTelemetry.Source.StartActivity("mtnn.exchange.send");
        span?.SetTag("message", message.GetType().Name).SetTag("bytes", bytes.Length).SetTag("target", target.Path.Address.ToString());
        var manifest = _serializer.Manifest(message);
        var hash = SHA256.HashData(bytes);
        var transfer = Interlocked.Increment(ref _nextTransfer);
        var runId = message is IRunMessage run ? run.RunId : "";
        var count = (bytes.Length + ChunkBytes - 1) / ChunkBytes;
        for (var i = 0; i < count; i++)
        {
            var piece = bytes.AsSpan(i * ChunkBytes, Math.Min(ChunkBytes, bytes.Length - i * ChunkBytes)).ToArray();
            target.Tell(new MessageChunk(runId, transfer, manifest, i, count, bytes.Length, hash, piece), sender);
        }
        ChunkedBytesSent += bytes.Length;
        MtnnTelemetry.Exchanged("sent", message.GetType().Name, bytes.Length, started);
    }
}

/// <summary>
/// Reassembles chunked messages, bounded in memory (total bytes in flight, size of one message) and in time (a
/// transfer left incomplete is dropped). Malformed, foreign or inconsistent chunks are dropped and counted.
/// </summary>
public sealed class ChunkAssembler(ExtendedActorSystem system, long maxMessageBytes = ProtocolLimits.MaxMessageBytes, long maxBytesInFlight = 2L << 30)
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
            || !chunk.Sha256.AsSpan().SequenceEqual(first.Sha256) || transfer.Pieces[chunk.Index] is not null)
        {
            Dropped++;
            return null;
        }
        transfer.Pieces[chunk.Index] = chunk.Bytes;
        if (++transfer.Received < first.Count) return null;

        Remove(key, transfer);
        var whole = new byte[first.TotalBytes];
        var offset = 0;
        foreach (var piece in transfer.Pieces)
        {
            if (offset + piece!.Length > whole.Length) { Dropped++; return null; }
            piece.CopyTo(whole, offset);
            offset += piece.Length;
        }
        if (offset != whole.Length || !SHA256.HashData(whole).AsSpan().SequenceEqual(first.Sha256))
        {
            Dropped++;
            return null;
        }
        try
        {
            var message = (IMtnnMessage)_serializer.FromBinary(whole, first.Manifest);
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
        && c.Sha256.Length == 32 && c.Bytes.Length > 0 && c.Bytes.Length <= ChunkedDelivery.ChunkBytes
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
