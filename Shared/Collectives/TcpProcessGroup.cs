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
    private long _calls, _bytesSent, _sharedCalls;
    private string? _failure;
    private readonly bool _sameHostMemory;
    private bool _sameHostRuledOut;
    private SameHostMemory? _shared;

    /// <param name="peers">peers[p] is the connection to rank p; null at this rank.</param>
    /// <param name="sameHostMemory">reduce through shared memory when every rank turns out to be on this host</param>
    public TcpProcessGroup(string id, int rank, PeerConnection?[] peers, TimeSpan ioTimeout, bool sameHostMemory = true)
    {
        _id = id;
        Rank = rank;
        _peers = peers;
        _ioTimeout = ioTimeout;
        _sameHostMemory = sameHostMemory;
    }

    /// <summary>"tcp, shared memory" once this group's reductions have gone through shared memory (the first large one decides).</summary>
    public string Transport => _shared is null ? "tcp" : "tcp, shared memory";

    public int Rank { get; }
    public int Size => _peers.Length;
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public float[][] AllToAll(float[][] send)
    {
        if (send.Length != Size) throw new ArgumentException($"send has {send.Length} arrays for a group of {Size}", nameof(send));
        ThrowIfFailed();
        if (Size == 1) return [send[0]];
        var received = Exchange(FrameKind.AllToAll, send, nameof(AllToAll));
        Interlocked.Add(ref _bytesSent, (send.Sum(a => (long)a.Length) - send[Rank].Length) * sizeof(float));
        return received;
    }

    /// <summary>Sends send[p] to every peer p and receives what each sends, all at once.</summary>
    private float[][] Exchange(FrameKind kind, float[][] send, string name)
    {
        var call = ++_calls;
        var received = new float[Size][];
        received[Rank] = send[Rank];
        var transfers = new List<Task>(2 * (Size - 1));
        foreach (var peer in _peers)
        {
            if (peer is null) continue;
            var array = send[peer.Rank];
            transfers.Add(OnPeer(peer, name, () => peer.SendAsync(call, kind, array, 0, array.Length)));
            transfers.Add(OnPeer(peer, name, async () => received[peer.Rank] = await peer.ReceiveAsync(call, kind)));
        }
        Complete(transfers);
        return received;
    }

    /// <summary>Every rank has arrived (the phases of a shared-memory reduction).</summary>
    private void Barrier(string name) => Exchange(FrameKind.SharedMemory, new float[Size][].Select(_ => Array.Empty<float>()).ToArray(), name);

    /// <summary>
    /// The segments of <see cref="SameHostMemory"/> for a buffer of <paramref name="length"/> floats, when the group
    /// may and can use them (every rank decides the same: the same length, the same answers); null: TCP.
    /// </summary>
    private SameHostMemory? Shared(int length)
    {
        if (_sameHostRuledOut || length < TcpProcessGroups.SameHostMinimumFloats) return null;
        if (_shared is { } shared && shared.Capacity >= length) return shared;
        _shared?.Dispose();
        _shared = SameHostMemory.TryOpen(Rank, Size, length, _sameHostMemory, send => Exchange(FrameKind.SharedMemory, send, "shared memory set-up"));
        _sameHostRuledOut = _shared is null; // every rank saw the same answers: none asks again
        return _shared;
    }

    /// <summary>
    /// Ring reduce-scatter, then ring all-gather. Every chunk's sum is made by its own rank alone and copied
    /// unchanged to the others, so every rank ends with the same bits.
    /// </summary>
    public void AllReduceSum(float[] buffer)
    {
        ReduceScatterSum(buffer);
        AllGather(buffer);
    }

    /// <summary>
    /// A ring: at step s rank r sends its partial sum of chunk r−s−1 to r+1 and adds what r−1 sends of chunk r−s−2;
    /// after Size−1 steps the last chunk added is its own, r, summed over every rank.
    /// </summary>
    public void ReduceScatterSum(float[] buffer)
    {
        ThrowIfFailed();
        if (Size == 1) return;
        if (Shared(buffer.Length) is { } shared)
        {
            ReduceScatterShared(shared, buffer);
            return;
        }
        var call = ++_calls;
        var (next, previous) = Neighbours();
        var largest = GroupChunks.Of(buffer.Length, Size, Size - 1).Length; // the last chunk is never shorter
        if (_partial.Length < largest) _partial = new float[largest];
        for (var step = 0; step < Size - 1; step++)
        {
            var (sendStart, sendLength) = GroupChunks.Of(buffer.Length, Size, Chunk(Rank - step - 1));
            var (addStart, addLength) = GroupChunks.Of(buffer.Length, Size, Chunk(Rank - step - 2));
            Complete([
                OnPeer(next, nameof(ReduceScatterSum), () => next.SendAsync(call, FrameKind.ReduceScatter, buffer, sendStart, sendLength)),
                OnPeer(previous, nameof(ReduceScatterSum), () => previous.ReceiveIntoAsync(call, FrameKind.ReduceScatter, _partial, 0, addLength)),
            ]);
            FloatChunks.Add(buffer.AsSpan(addStart, addLength), _partial.AsSpan(0, addLength));
            Interlocked.Add(ref _bytesSent, (long)sendLength * sizeof(float));
        }
    }

    /// <summary>A ring: at step s rank r passes chunk r−s on to r+1 (its own first) and takes chunk r−s−1 from r−1.</summary>
    public void AllGather(float[] buffer)
    {
        ThrowIfFailed();
        if (Size == 1) return;
        if (Shared(buffer.Length) is { } shared)
        {
            AllGatherShared(shared, buffer);
            return;
        }
        var call = ++_calls;
        var (next, previous) = Neighbours();
        for (var step = 0; step < Size - 1; step++)
        {
            var (sendStart, sendLength) = GroupChunks.Of(buffer.Length, Size, Chunk(Rank - step));
            var (receiveStart, receiveLength) = GroupChunks.Of(buffer.Length, Size, Chunk(Rank - step - 1));
            Complete([
                OnPeer(next, nameof(AllGather), () => next.SendAsync(call, FrameKind.AllGather, buffer, sendStart, sendLength)),
                OnPeer(previous, nameof(AllGather), () => previous.ReceiveIntoAsync(call, FrameKind.AllGather, buffer, receiveStart, receiveLength)),
            ]);
            Interlocked.Add(ref _bytesSent, (long)sendLength * sizeof(float));
        }
    }

    /// <summary>
    /// Shared memory: every rank writes the chunks the others sum into its segment; after a barrier each adds the
    /// others' copies of its own chunk, in rank order. Alternate calls use alternate regions (see
    /// <see cref="SameHostMemory"/>), so no second barrier has to hold the segments until all have read.
    /// </summary>
    private void ReduceScatterShared(SameHostMemory shared, float[] buffer)
    {
        var region = (int)(_sharedCalls++ & 1);
        var (start, length) = GroupChunks.Of(buffer.Length, Size, Rank);
        buffer.AsSpan(0, start).CopyTo(shared.Own(region, 0, start));
        buffer.AsSpan(start + length).CopyTo(shared.Own(region, start + length, buffer.Length - start - length));
        Barrier(nameof(ReduceScatterSum));
        for (var q = 0; q < Size; q++)
            if (q != Rank) FloatChunks.Add(buffer.AsSpan(start, length), shared.Segment(q, region, start, length));
        Interlocked.Add(ref _bytesSent, (long)(buffer.Length - length) * sizeof(float));
    }

    /// <summary>Shared memory: every rank writes its chunk into its segment; after a barrier each copies the others' chunks from theirs.</summary>
    private void AllGatherShared(SameHostMemory shared, float[] buffer)
    {
        var region = (int)(_sharedCalls++ & 1);
        var (start, length) = GroupChunks.Of(buffer.Length, Size, Rank);
        buffer.AsSpan(start, length).CopyTo(shared.Own(region, start, length));
        Barrier(nameof(AllGather));
        for (var q = 0; q < Size; q++)
        {
            if (q == Rank) continue;
            var (from, count) = GroupChunks.Of(buffer.Length, Size, q);
            shared.Segment(q, region, from, count).CopyTo(buffer.AsSpan(from, count));
        }
        Interlocked.Add(ref _bytesSent, (long)(Size - 1) * length * sizeof(float));
    }

    private (PeerConnection Next, PeerConnection Previous) Neighbours() => (_peers[(Rank + 1) % Size]!, _peers[(Rank + Size - 1) % Size]!);

    public void Abort(string reason) => Fail($"rank {Rank} aborted: {reason}");

    public void Dispose()
    {
        Fail($"rank {Rank} left the group");
        _shared?.Dispose();
    }

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
