using MessagePack;

namespace MtnnCluster.Messages;

/// <summary>
/// One piece of a protocol message too large for one Akka frame: the sender serializes the message, cuts the bytes
/// into chunks, and the receiver reassembles them, checking the total size and the
/// <see cref="Checksum"/> of the whole (<see cref="Transport.TransferChecksum"/>) before it deserializes.
/// A chunk names the run and the transfer it belongs to, so a stale or foreign piece is dropped, not mixed in.
/// </summary>
[MessagePackObject]
public sealed record MessageChunk(
    [property: Key(0)] string RunId,
    [property: Key(1)] long TransferId,
    [property: Key(2)] string Manifest,
    [property: Key(3)] int Index,
    [property: Key(4)] int Count,
    [property: Key(5)] int TotalBytes,
    [property: Key(6)] byte[] Checksum,
    [property: Key(7)] byte[] Bytes) : IMtnnMessage;
