using System.IO.Hashing;

namespace MtnnCluster.Transport;

/// <summary>
/// The checksum of a large message in transit (a <see cref="Messages.BlobOffer"/> or <see cref="Messages.MessageChunk"/>):
/// XxHash128 of the serialized bytes. It guards against damage (a bug, memory or a link that TCP's 16-bit checksum
/// lets through), not against a forger: whoever could forge the bytes could forge the offer that carries the
/// checksum, since both come over the same unauthenticated Akka connection unless TLS is on, and with TLS on the
/// connection itself authenticates every byte. At 15–35 GB/s it costs about 1 ms per 17 MB message, where SHA-256
/// cost 10 ms on each side (BENCHMARKS.md).
/// </summary>
public static class TransferChecksum
{
    public const int Bytes = 16;
    public const string Name = "XxHash128";

    public static byte[] Of(ReadOnlySpan<byte> data) => XxHash128.Hash(data);

    /// <summary>Whether <paramref name="checksum"/> is the checksum of <paramref name="data"/>.</summary>
    public static bool Matches(ReadOnlySpan<byte> data, ReadOnlySpan<byte> checksum) =>
        checksum.Length == Bytes && Of(data).AsSpan().SequenceEqual(checksum);

    /// <summary>A checksum over bytes that arrive in pieces.</summary>
    public static XxHash128 Incremental() => new();
}
