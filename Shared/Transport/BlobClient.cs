using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using MtnnCluster.Messages;

namespace MtnnCluster.Transport;

/// <summary>A fetch that could not deliver its message: the reason names the transfer and what went wrong.</summary>
public sealed class BlobFetchException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Fetches an offered blob over TCP and checks it before anyone reads it.</summary>
public static class BlobClient
{
    /// <summary>Slices in which the received bytes are hashed, so hashing overlaps the transfer.</summary>
    private const int HashSlice = 1 << 20;

    /// <summary>
    /// The bytes of <paramref name="offer"/>, length and SHA-256 verified, in a pooled buffer the caller disposes.
    /// Refuses an offer over <paramref name="maxBytes"/> before connecting.
    /// </summary>
    public static async Task<PooledBytes> FetchAsync(BlobOffer offer, long maxBytes, TimeSpan connectTimeout, TimeSpan ioTimeout, CancellationToken cancel = default)
    {
        var what = $"transfer {offer.TransferId} from {offer.Host}:{offer.Port}";
        if (offer.Length <= 0 || offer.Length > maxBytes)
            throw new BlobFetchException($"{what}: {offer.Length} bytes is outside the accepted 1..{maxBytes}");
        if (offer.Sha256 is not { Length: 32 } || offer.Token is not { Length: BlobStore.TokenBytes } || offer.Port is <= 0 or > 65535)
            throw new BlobFetchException($"{what}: malformed offer");

        using var client = new TcpClient { NoDelay = true };
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancel))
        {
            connect.CancelAfter(connectTimeout);
            try
            {
                await client.ConnectAsync(offer.Host, offer.Port, connect.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                throw new BlobFetchException($"{what}: cannot connect ({e.Message})", e);
            }
        }
        using var io = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        io.CancelAfter(ioTimeout);
        var bytes = PooledBytes.Rent((int)offer.Length);
        try
        {
            var stream = client.GetStream();
            var request = new byte[BlobProtocol.RequestBytes];
            BlobProtocol.Magic.CopyTo(request);
            request[4] = BlobProtocol.Version;
            BinaryPrimitives.WriteInt64LittleEndian(request.AsSpan(5), offer.TransferId);
            offer.Token.CopyTo(request, 13);
            await stream.WriteAsync(request, io.Token);

            var header = new byte[BlobProtocol.ResponseHeaderBytes];
            await stream.ReadExactlyAsync(header, io.Token);
            var lookup = (BlobLookup)header[0];
            if (lookup != BlobLookup.Found) throw new BlobFetchException($"{what}: refused by the sender ({lookup})");
            var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(1));
            if (length != offer.Length) throw new BlobFetchException($"{what}: the sender has {length} bytes, the offer said {offer.Length}");

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var memory = bytes.Memory;
            for (var offset = 0; offset < memory.Length;)
            {
                var read = await stream.ReadAsync(memory.Slice(offset, Math.Min(HashSlice, memory.Length - offset)), io.Token);
                if (read == 0) throw new BlobFetchException($"{what}: connection closed after {offset} of {length} bytes");
                hash.AppendData(memory.Span.Slice(offset, read));
                offset += read;
            }
            if (!CryptographicOperations.FixedTimeEquals(hash.GetHashAndReset(), offer.Sha256))
                throw new BlobFetchException($"{what}: SHA-256 of the {length} bytes received does not match the offer");
            await stream.WriteAsync(new[] { BlobProtocol.Acknowledged }, io.Token);
            return bytes;
        }
        catch (Exception e)
        {
            bytes.Dispose();
            if (e is BlobFetchException) throw;
            throw new BlobFetchException($"{what}: {(e is OperationCanceledException ? "timed out" : e.Message)}", e);
        }
    }
}
