using System.Buffers.Binary;
using System.Net.Sockets;
using MtnnCluster.Messages;

namespace MtnnCluster.Transport;

/// <summary>A fetch that could not deliver its message: the reason names the transfer and what went wrong.</summary>
public sealed class BlobFetchException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Fetches an offered blob over TCP and checks it before anyone reads it.</summary>
public static class BlobClient
{
    /// <summary>Slices in which the received bytes are hashed, so hashing overlaps the transfer.</summary>
    private const int HashSlice = 1 << 20;

    /// <summary>The buffer a transfer starts with (4 MiB); it doubles as the bytes arrive, so an offer's length alone allocates little.</summary>
    private const int FirstBuffer = 4 << 20;

    /// <summary>
    /// The bytes of <paramref name="offer"/>, length and checksum verified, in a pooled buffer the caller disposes.
    /// Refuses an offer over <paramref name="maxBytes"/> before connecting. Synchronous on purpose: it reads tens
    /// of megabytes, and on a thread of its own it leaves the thread pool (Akka's default dispatcher, heartbeats
    /// included) alone; <see cref="FetchAsync"/> runs it on a dedicated thread.
    /// </summary>
    public static PooledBytes Fetch(BlobOffer offer, long maxBytes, TimeSpan connectTimeout, TimeSpan ioTimeout)
    {
        var what = $"transfer {offer.TransferId} from {offer.Host}:{offer.Port}";
        if (offer.Length <= 0 || offer.Length > maxBytes)
            throw new BlobFetchException($"{what}: {offer.Length} bytes is outside the accepted 1..{maxBytes}");
        if (offer.Checksum is not { Length: TransferChecksum.Bytes } || offer.Token is not { Length: BlobStore.TokenBytes } || offer.Port is <= 0 or > 65535)
            throw new BlobFetchException($"{what}: malformed offer");

        using var client = new TcpClient { NoDelay = true };
        try
        {
            if (!client.ConnectAsync(offer.Host, offer.Port).Wait(connectTimeout))
                throw new BlobFetchException($"{what}: cannot connect within {connectTimeout.TotalSeconds:F0} s");
        }
        catch (AggregateException e) when (e.InnerException is SocketException inner)
        {
            throw new BlobFetchException($"{what}: cannot connect ({inner.Message})", inner);
        }
        PooledBytes? bytes = null;
        try
        {
            var stream = client.GetStream();
            stream.ReadTimeout = stream.WriteTimeout = (int)Math.Min(int.MaxValue, ioTimeout.TotalMilliseconds);
            var deadline = DateTime.UtcNow + ioTimeout; // for the whole transfer, not only each read
            var request = new byte[BlobProtocol.RequestBytes];
            BlobProtocol.Magic.CopyTo(request);
            request[4] = BlobProtocol.Version;
            BinaryPrimitives.WriteInt64LittleEndian(request.AsSpan(5), offer.TransferId);
            offer.Token.CopyTo(request, 13);
            stream.Write(request);

            var header = new byte[BlobProtocol.ResponseHeaderBytes];
            stream.ReadExactly(header);
            var lookup = (BlobLookup)header[0];
            if (lookup != BlobLookup.Found) throw new BlobFetchException($"{what}: refused by the sender ({lookup})");
            var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(1));
            if (length != offer.Length) throw new BlobFetchException($"{what}: the sender has {length} bytes, the offer said {offer.Length}");

            var checksum = TransferChecksum.Incremental();
            bytes = PooledBytes.Rent((int)Math.Min(length, FirstBuffer));
            for (var offset = 0; offset < length;)
            {
                if (DateTime.UtcNow > deadline) throw new BlobFetchException($"{what}: not complete within {ioTimeout.TotalSeconds:F0} s");
                if (offset == bytes.Length)
                {
                    var larger = PooledBytes.Rent((int)Math.Min(length, 2L * bytes.Length));
                    bytes.Span.CopyTo(larger.Span);
                    bytes.Dispose();
                    bytes = larger;
                }
                var span = bytes.Span;
                var read = stream.Read(span.Slice(offset, Math.Min(HashSlice, span.Length - offset)));
                if (read == 0) throw new BlobFetchException($"{what}: connection closed after {offset} of {length} bytes");
                checksum.Append(span.Slice(offset, read));
                offset += read;
            }
            if (!checksum.GetCurrentHash().AsSpan().SequenceEqual(offer.Checksum))
                throw new BlobFetchException($"{what}: the {TransferChecksum.Name} checksum of the {length} bytes received does not match the offer");
            stream.Write([BlobProtocol.Acknowledged]);
            return bytes;
        }
        catch (Exception e)
        {
            bytes?.Dispose();
            if (e is BlobFetchException) throw;
            throw new BlobFetchException($"{what}: {(e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } } ? "timed out" : e.Message)}", e);
        }
    }

    /// <summary><see cref="Fetch"/> on a dedicated thread.</summary>
    public static Task<PooledBytes> FetchAsync(BlobOffer offer, long maxBytes, TimeSpan connectTimeout, TimeSpan ioTimeout) =>
        Task.Factory.StartNew(() => Fetch(offer, maxBytes, connectTimeout, ioTimeout), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
