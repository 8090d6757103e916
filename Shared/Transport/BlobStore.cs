using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace MtnnCluster.Transport;

/// <summary>What a fetch request found.</summary>
public enum BlobLookup : byte { Found = 0, UnknownOrExpired = 1, WrongToken = 2 }

/// <summary>
/// The serialized messages this node offers on its data plane, each until fetched once or expired. Bounded: a blob
/// over <paramref name="maxBlobBytes"/> is refused, an unfetched one is released after <paramref name="expiry"/>,
/// and each token opens its blob once.
/// </summary>
public sealed class BlobStore(long maxBlobBytes, TimeSpan expiry) : IDisposable
{
    private sealed record Entry(PooledBytes Bytes, byte[] Token, DateTime Expires);

    private readonly ConcurrentDictionary<long, Entry> _entries = new();
    private long _nextId = RandomNumberGenerator.GetInt32(1, int.MaxValue);

    public const int TokenBytes = 32;
    public long MaxBlobBytes => maxBlobBytes;
    public int Count => _entries.Count;
    /// <summary>Blobs released unfetched.</summary>
    public long Expired => Interlocked.Read(ref _expired);
    private long _expired;

    /// <summary>Takes ownership of <paramref name="bytes"/>; returns the transfer id and its one-time token.</summary>
    public (long TransferId, byte[] Token) Add(PooledBytes bytes)
    {
        if (bytes.Length > maxBlobBytes)
        {
            bytes.Dispose();
            throw new InvalidOperationException($"data plane: a {bytes.Length}-byte message is over the {maxBlobBytes}-byte limit per transfer");
        }
        Expire();
        var token = RandomNumberGenerator.GetBytes(TokenBytes);
        var id = Interlocked.Increment(ref _nextId);
        _entries[id] = new Entry(bytes, token, DateTime.UtcNow + expiry);
        return (id, token);
    }

    /// <summary>
    /// The blob for a transfer, removed from the store (tokens are single-use); the caller disposes it. A wrong
    /// token leaves the blob for its rightful receiver.
    /// </summary>
    public BlobLookup TryTake(long transferId, ReadOnlySpan<byte> token, out PooledBytes? bytes)
    {
        bytes = null;
        if (!_entries.TryGetValue(transferId, out var entry)) return BlobLookup.UnknownOrExpired;
        if (token.Length != TokenBytes || !CryptographicOperations.FixedTimeEquals(token, entry.Token)) return BlobLookup.WrongToken;
        if (!_entries.TryRemove(new KeyValuePair<long, Entry>(transferId, entry))) return BlobLookup.UnknownOrExpired; // raced
        if (entry.Expires < DateTime.UtcNow)
        {
            entry.Bytes.Dispose();
            Interlocked.Increment(ref _expired);
            return BlobLookup.UnknownOrExpired;
        }
        bytes = entry.Bytes;
        return BlobLookup.Found;
    }

    /// <summary>Releases blobs left unfetched past their expiry; returns how many.</summary>
    public int Expire()
    {
        var now = DateTime.UtcNow;
        var released = 0;
        foreach (var (id, entry) in _entries)
        {
            if (entry.Expires >= now || !_entries.TryRemove(new KeyValuePair<long, Entry>(id, entry))) continue;
            entry.Bytes.Dispose();
            released++;
        }
        Interlocked.Add(ref _expired, released);
        return released;
    }

    public void Dispose()
    {
        foreach (var id in _entries.Keys)
            if (_entries.TryRemove(id, out var entry)) entry.Bytes.Dispose();
    }
}
