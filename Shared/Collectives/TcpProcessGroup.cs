using System.Net.Sockets;
using System.Security.Authentication;

namespace MtnnCluster.Collectives;

/// <summary>
/// One rank of a group joined by <see cref="TcpProcessGroups"/>: a connection to every peer (a full mesh).
/// All-to-all sends to and receives from every peer at once; the all-reduce is a ring over the neighbour
/// connections. Any failure on any connection ends the group for this rank and closes all its sockets, so the
/// peers' calls fail at once too rather than at their timeouts.
/// </summary>
internal sealed class TcpProcessGroup : IProcessGroup
{
    private readonly string _id;
    private readonly PeerConnection?[] _peers;
    private readonly TimeSpan _ioTimeout;
    private float[] _partial = [];
    private long _calls, _bytesSent;
    private string? _failure;

    /// <param name="peers">peers[p] is the connection to rank p; null at this rank.</param>
    public TcpProcessGroup(string id, int rank, PeerConnection?[] peers, TimeSpan ioTimeout)
    {
        _id = id;
        Rank = rank;
        _peers = peers;
        _ioTimeout = ioTimeout;
    }

    public int Rank { get; }
    public int Size => _peers.Length;
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public float[][] AllToAll(float[][] send)
    {
        if (send.Length != Size) throw new ArgumentException($"send has {send.Length} arrays for a group of {Size}", nameof(send));
        ThrowIfFailed();
        if (Size == 1) return [send[0]];
        var call = ++_calls;
        var received = new float[Size][];
        received[Rank] = send[Rank];
        var transfers = new List<Task>(2 * (Size - 1));
        foreach (var peer in _peers)
        {
            if (peer is null) continue;
            var array = send[peer.Rank];
            transfers.Add(OnPeer(peer, nameof(AllToAll), () => peer.SendAsync(call, FrameKind.AllToAll, array, 0, array.Length)));
            transfers.Add(OnPeer(peer, nameof(AllToAll), async () => received[peer.Rank] = await peer.ReceiveAsync(call, FrameKind.AllToAll)));
        }
        Complete(transfers);
        Interlocked.Add(ref _bytesSent, (send.Sum(a => (long)a.Length) - send[Rank].Length) * sizeof(float));
        return received;
    }

    /// <summary>
    /// Ring reduce-scatter, then ring all-gather, in chunks of about Length/Size. Rank r sends to r+1 and receives
    /// from r-1; after Size-1 steps it holds the whole sum of chunk r+1, summed by it alone, and the all-gather
    /// copies each chunk's sum unchanged from its rank to the others, so every rank ends with the same bits.
    /// </summary>
    public void AllReduceSum(float[] buffer)
    {
        ThrowIfFailed();
        if (Size == 1) return;
        var call = ++_calls;
        var next = _peers[(Rank + 1) % Size]!;
        var previous = _peers[(Rank + Size - 1) % Size]!;
        var largest = FloatChunks.Bounds(buffer.Length, Size, Size - 1).Length; // the last chunk is never shorter
        if (_partial.Length < largest) _partial = new float[largest];
        for (var step = 0; step < Size - 1; step++)
        {
            var (sendStart, sendLength) = FloatChunks.Bounds(buffer.Length, Size, Chunk(Rank - step));
            var (addStart, addLength) = FloatChunks.Bounds(buffer.Length, Size, Chunk(Rank - step - 1));
            Complete([
                OnPeer(next, nameof(AllReduceSum), () => next.SendAsync(call, FrameKind.ReduceScatter, buffer, sendStart, sendLength)),
                OnPeer(previous, nameof(AllReduceSum), () => previous.ReceiveIntoAsync(call, FrameKind.ReduceScatter, _partial, 0, addLength)),
            ]);
            FloatChunks.Add(buffer.AsSpan(addStart, addLength), _partial.AsSpan(0, addLength));
            Interlocked.Add(ref _bytesSent, (long)sendLength * sizeof(float));
        }
        for (var step = 0; step < Size - 1; step++)
        {
            var (sendStart, sendLength) = FloatChunks.Bounds(buffer.Length, Size, Chunk(Rank + 1 - step));
            var (receiveStart, receiveLength) = FloatChunks.Bounds(buffer.Length, Size, Chunk(Rank - step));
            Complete([
                OnPeer(next, nameof(AllReduceSum), () => next.SendAsync(call, FrameKind.AllGather, buffer, sendStart, sendLength)),
                OnPeer(previous, nameof(AllReduceSum), () => previous.ReceiveIntoAsync(call, FrameKind.AllGather, buffer, receiveStart, receiveLength)),
            ]);
            Interlocked.Add(ref _bytesSent, (long)sendLength * sizeof(float));
        }
    }

    public void Abort(string reason) => Fail($"rank {Rank} aborted: {reason}");

    public void Dispose() => Fail($"rank {Rank} left the group");

    private int Chunk(int index) => ((index % Size) + Size) % Size;

    private async Task OnPeer(PeerConnection peer, string call, Func<Task> io)
    {
        try
        {
            await io();
        }
        catch (Exception e)
        {
            Fail($"{call}: rank {peer.Rank} at {peer.Endpoint}: {Describe(e)}");
            throw;
        }
    }

    private string Describe(Exception e) => e switch
    {
        OperationCanceledException => $"nothing moved for {_ioTimeout.TotalSeconds:0.#} s (IO timeout)",
        EndOfStreamException => "the peer closed the connection",
        IOException { InnerException: SocketException s } => $"{s.SocketErrorCode} ({s.Message})",
        InvalidDataException => $"out of step: {e.Message}",
        AuthenticationException or IOException or SocketException or ObjectDisposedException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>Waits for this step's transfers; any failure (already recorded by <see cref="OnPeer"/>) surfaces as the group's.</summary>
    private void Complete(IEnumerable<Task> transfers)
    {
        try
        {
            Task.WhenAll(transfers).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            throw new CollectiveAbortedException($"process group '{_id}': {Volatile.Read(ref _failure)}", e);
        }
    }

    /// <summary>The first failure is the group's reason; closing every socket wakes this rank's blocked transfers and tells the peers.</summary>
    private void Fail(string reason)
    {
        if (Interlocked.CompareExchange(ref _failure, reason, null) is not null) return;
        foreach (var peer in _peers) peer?.Dispose();
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure) throw new CollectiveAbortedException($"process group '{_id}': {failure}");
    }
}
