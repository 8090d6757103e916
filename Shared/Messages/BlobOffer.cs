using MessagePack;

namespace MtnnCluster.Messages;

/// <summary>
/// The Akka-side announcement of a large message that travels over the TCP data plane: the sender serialized it
/// once and holds the bytes; the receiver fetches them from <see cref="Host"/>:<see cref="Port"/> with the one-time
/// <see cref="Token"/>, checks <see cref="Length"/> and <see cref="Checksum"/> (<see cref="Transport.TransferChecksum"/>,
/// XxHash128 since protocol version 2; SHA-256 before), and handles the message as if it had come from the sender
/// directly.
/// </summary>
[MessagePackObject]
public sealed record BlobOffer(
    [property: Key(0)] string RunId,
    [property: Key(1)] long TransferId,
    [property: Key(2)] string Manifest,
    [property: Key(3)] string Host,
    [property: Key(4)] int Port,
    [property: Key(5)] long Length,
    [property: Key(6)] byte[] Checksum,
    [property: Key(7)] byte[] Token) : IMtnnMessage;
