namespace MtnnCluster.Collectives;

/// <summary>
/// Process groups whose ranks are threads of one process (the worker actors of a single-node run): arrays change
/// hands in memory, and ranks meet at a barrier built on <see cref="Monitor"/>. Groups are kept by id until they
/// fail, are aborted or a rank leaves, so the ranks of one run attempt find each other by its group id.
/// </summary>
public sealed class InProcessGroups(TimeSpan? callTimeout = null) : IProcessGroupFactory
{
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromMinutes(10);

    private readonly TimeSpan _callTimeout = callTimeout ?? DefaultCallTimeout;
    private readonly Dictionary<string, Rendezvous> _groups = new();

    public string? Endpoint => null;

    /// <summary>Groups joined or being joined and not yet ended.</summary>
    public int OpenGroups
    {
        get { lock (_groups) return _groups.Count; }
    }

    /// <summary>Blocks until all <c>endpoints.Count</c> ranks have joined <paramref name="groupId"/> (the last one completes it).</summary>
    public IProcessGroup Join(string groupId, int rank, IReadOnlyList<string?> endpoints, TimeSpan timeout, byte[]? token = null)
    {
        var size = endpoints.Count;
        if (size < 1) throw new ArgumentException("a group needs at least one rank", nameof(endpoints));
        if (rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is not in a group of {size}");
        Rendezvous group;
        lock (_groups)
        {
            if (!_groups.TryGetValue(groupId, out group!)) _groups[groupId] = group = new Rendezvous(groupId, size, _callTimeout, Forget);
            else if (group.Size != size) throw new ArgumentException($"group '{groupId}' has {group.Size} ranks, not {size}", nameof(endpoints));
        }
        group.Join(rank, timeout);
        return new InProcessGroup(group, rank);
    }

    private void Forget(Rendezvous group)
    {
        lock (_groups)
            if (_groups.TryGetValue(group.Id, out var known) && known == group) _groups.Remove(group.Id);
    }

    /// <summary>
    /// The state the ranks of one group share. Each barrier generation has its own set of slots (two sets,
    /// alternating), where every rank deposits what the others read after the barrier: a rank cannot overwrite a
    /// set before every rank has arrived at the next barrier, so it has finished reading.
    /// </summary>
    private sealed class Rendezvous(string id, int size, TimeSpan callTimeout, Action<Rendezvous> forget)
    {
        private readonly object _lock = new();
        private readonly bool[] _joined = new bool[size];
        private readonly object?[][] _slots = [new object?[size], new object?[size]];
        private int _joinedCount, _arrived;
        private long _generation;
        private string? _failure;

        public string Id => id;
        public int Size => size;

        public void Join(int rank, TimeSpan timeout)
        {
            lock (_lock)
            {
                ThrowIfFailed();
                if (_joined[rank]) throw new ArgumentException($"rank {rank} has already joined group '{id}'", nameof(rank));
                _joined[rank] = true;
                if (++_joinedCount == size) Monitor.PulseAll(_lock);
                var deadline = Deadline(timeout);
                while (_joinedCount < size)
                    AwaitPulse(deadline, () => $"rank {rank} waited {timeout} for ranks {string.Join(", ", Enumerable.Range(0, size).Where(r => !_joined[r]))} to join");
            }
        }

        /// <summary>Deposits <paramref name="deposit"/>, waits until every rank has, and returns all ranks' deposits.</summary>
        public object?[] Arrive(int rank, object? deposit, string call)
        {
            lock (_lock)
            {
                ThrowIfFailed();
                var generation = _generation;
                var slots = _slots[generation & 1];
                slots[rank] = deposit;
                if (++_arrived == size)
                {
                    _arrived = 0;
                    _generation++;
                    Monitor.PulseAll(_lock);
                    return slots;
                }
                var deadline = Deadline(callTimeout);
                while (_generation == generation) AwaitPulse(deadline, () => $"rank {rank} waited {callTimeout} in {call} for the other ranks");
                return slots;
            }
        }

        /// <summary>Ends the group for every rank: blocked and later calls throw with <paramref name="reason"/> (the first reason wins).</summary>
        public void Fail(string reason)
        {
            lock (_lock)
            {
                if (_failure is not null) return;
                _failure = reason;
                Monitor.PulseAll(_lock);
            }
            forget(this);
        }

        public void ThrowIfFailed()
        {
            if (Volatile.Read(ref _failure) is { } failure) throw new CollectiveAbortedException($"process group '{id}': {failure}");
        }

        // Caller holds _lock and has checked that its wait is not over: a group that fails after a barrier opened
        // (a rank leaving after the last call) must not fail a rank that has yet to wake from it. On the deadline
        // the whole group fails, since the others would wait too.
        private void AwaitPulse(long deadline, Func<string> timedOut)
        {
            ThrowIfFailed();
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                Fail(timedOut());
                ThrowIfFailed();
            }
            Monitor.Wait(_lock, (int)Math.Min(left, int.MaxValue));
        }

        private static long Deadline(TimeSpan timeout) => Environment.TickCount64 + (long)Math.Min(timeout.TotalMilliseconds, long.MaxValue / 4);
    }

    /// <summary>One rank's handle on a <see cref="Rendezvous"/>.</summary>
    private sealed class InProcessGroup(Rendezvous group, int rank) : IProcessGroup
    {
        private static readonly object ReduceDone = new();
        private float[] _sum = [];
        private long _bytesSent;

        public int Rank => rank;
        public int Size => group.Size;
        public string Transport => "in-process";
        public long BytesSent => Interlocked.Read(ref _bytesSent);

        /// <summary>
        /// Hands <paramref name="send"/>[p] to rank p as it is, without a copy: the caller gives the arrays up and
        /// must not write to them again, since rank p now holds them.
        /// </summary>
        public float[][] AllToAll(float[][] send)
        {
            if (send.Length != Size) throw new ArgumentException($"send has {send.Length} arrays for a group of {Size}", nameof(send));
            group.ThrowIfFailed();
            if (Size == 1) return [send[0]];
            var slots = group.Arrive(rank, send, nameof(AllToAll));
            var received = new float[Size][];
            for (var p = 0; p < Size; p++)
                received[p] = slots[p] is float[][] sent && sent.Length == Size ? sent[rank] : throw Desynchronised(nameof(AllToAll), p);
            Interlocked.Add(ref _bytesSent, (send.Sum(a => (long)a.Length) - send[rank].Length) * sizeof(float));
            return received;
        }

        /// <summary>
        /// Rank r sums chunk r of every rank's buffer, in rank order, and writes the sum into chunk r of every buffer;
        /// a second barrier holds every rank until all chunks are written. No two ranks touch the same chunk.
        /// </summary>
        public void AllReduceSum(float[] buffer)
        {
            group.ThrowIfFailed();
            if (Size == 1) return;
            var buffers = Buffers(group.Arrive(rank, buffer, nameof(AllReduceSum)), buffer.Length, nameof(AllReduceSum));
            var sum = SumOwnChunk(buffers, out var start);
            foreach (var b in buffers) sum.CopyTo(b.AsSpan(start, sum.Length));
            Done(nameof(AllReduceSum));
        }

        /// <summary>Rank r sums chunk r of every rank's buffer, in rank order, into its own; a second barrier holds every rank until all have read.</summary>
        public void ReduceScatterSum(float[] buffer)
        {
            group.ThrowIfFailed();
            if (Size == 1) return;
            var buffers = Buffers(group.Arrive(rank, buffer, nameof(ReduceScatterSum)), buffer.Length, nameof(ReduceScatterSum));
            var sum = SumOwnChunk(buffers, out var start);
            Done(nameof(ReduceScatterSum)); // the others have read this buffer's chunks before chunk r is overwritten
            sum.CopyTo(buffer.AsSpan(start, sum.Length));
        }

        /// <summary>Every rank copies chunk q from rank q's buffer; a second barrier holds every rank until all have copied.</summary>
        public void AllGather(float[] buffer)
        {
            group.ThrowIfFailed();
            if (Size == 1) return;
            var buffers = Buffers(group.Arrive(rank, buffer, nameof(AllGather)), buffer.Length, nameof(AllGather));
            for (var p = 0; p < Size; p++)
            {
                if (p == rank) continue;
                var (start, length) = GroupChunks.Of(buffer.Length, Size, p);
                buffers[p].AsSpan(start, length).CopyTo(buffer.AsSpan(start, length));
            }
            Interlocked.Add(ref _bytesSent, (long)(Size - 1) * GroupChunks.Of(buffer.Length, Size, rank).Length * sizeof(float));
            Done(nameof(AllGather));
        }

        /// <summary>This rank's chunk summed over every rank's buffer, in rank order, into a scratch span; counted as sent once per other rank.</summary>
        private Span<float> SumOwnChunk(float[][] buffers, out int start)
        {
            (start, var length) = GroupChunks.Of(buffers[0].Length, Size, rank);
            if (_sum.Length < length) _sum = new float[length];
            var sum = _sum.AsSpan(0, length);
            buffers[0].AsSpan(start, length).CopyTo(sum);
            for (var p = 1; p < Size; p++) FloatChunks.Add(sum, buffers[p].AsSpan(start, length));
            Interlocked.Add(ref _bytesSent, (long)(Size - 1) * length * sizeof(float));
            return sum;
        }

        private float[][] Buffers(object?[] slots, int length, string call)
        {
            var buffers = new float[Size][];
            for (var p = 0; p < Size; p++)
                buffers[p] = slots[p] is float[] b && b.Length == length ? b : throw Desynchronised(call, p);
            return buffers;
        }

        private void Done(string call)
        {
            var done = group.Arrive(rank, ReduceDone, call);
            for (var p = 0; p < Size; p++)
                if (done[p] != ReduceDone) throw Desynchronised(call, p);
        }

        public void Abort(string reason) => group.Fail($"rank {rank} aborted: {reason}");

        /// <summary>Leaving ends the group: a peer still waiting for this rank would otherwise wait out its timeout.</summary>
        public void Dispose() => group.Fail($"rank {rank} left the group");

        private CollectiveAbortedException Desynchronised(string call, int peer)
        {
            group.Fail($"rank {rank} called {call} while rank {peer} called another collective or passed another length");
            return new CollectiveAbortedException($"process group '{group.Id}': rank {rank} in {call} is out of step with rank {peer}");
        }
    }
}
