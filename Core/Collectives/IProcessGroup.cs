namespace MtnnCluster.Collectives;

/// <summary>
/// The workers of one run attempt as a communication group, as a process group is to PyTorch's DDP: a rank, a
/// size, and the two collectives a hybrid-parallel step needs. The step sees only this interface; the transport
/// (an in-memory handoff in one process, TCP between processes, NCCL some day) is the implementation's.
/// <para>
/// Calls are blocking and collective: every rank makes the same calls in the same order. A rank that cannot go on
/// (a peer's connection closed, a timeout, <see cref="Abort"/>) throws <see cref="CollectiveAbortedException"/>
/// from the call in progress and from every later one.
/// </para>
/// </summary>
public interface IProcessGroup : IDisposable
{
    int Rank { get; }
    int Size { get; }

    /// <summary>
    /// Personalised all-to-all: <paramref name="send"/>[p] is what this rank sends to rank p (any length, empty
    /// allowed; send[Rank] comes back as received[Rank] without a copy). Returns received[p], what rank p sent here.
    /// The sent arrays are given up: a group in one process hands them to their receivers as they are, so the caller
    /// must not write to them (or reuse them) afterwards.
    /// </summary>
    float[][] AllToAll(float[][] send);

    /// <summary>
    /// In place: every rank's <paramref name="buffer"/> (the same length on every rank) becomes the element-wise
    /// sum over ranks, bit for bit the same on every rank (each element is summed once, in one order, and the
    /// result is shared), so that replicas stepped from it stay identical.
    /// </summary>
    void AllReduceSum(float[] buffer);

    /// <summary>
    /// In place: chunk <see cref="Rank"/> of <paramref name="buffer"/> (<see cref="GroupChunks.Of"/>) becomes the
    /// element-wise sum over ranks of that chunk, summed by this rank alone in one order; the other chunks are
    /// undefined afterwards. With <see cref="AllGather"/> after it, this is <see cref="AllReduceSum"/> in two halves,
    /// between which each rank can update its own chunk (a sharded optimizer step).
    /// </summary>
    void ReduceScatterSum(float[] buffer);

    /// <summary>In place: every chunk q of <paramref name="buffer"/> becomes rank q's chunk q, unchanged.</summary>
    void AllGather(float[] buffer);

    /// <summary>How the ranks' data travels, for logs and tests: "in-process", "tcp", or "tcp, shared memory" once reductions go through shared memory.</summary>
    string Transport { get; }

    /// <summary>Payload bytes this rank has sent to other ranks so far (the wire cost of its steps).</summary>
    long BytesSent { get; }

    /// <summary>Makes this rank's blocked and future calls throw, and tells the peers (from any thread).</summary>
    void Abort(string reason);
}

/// <summary>Makes the group of one run attempt: <paramref name="endpoints"/>[r] is how rank r is reached (null in one process).</summary>
public interface IProcessGroupFactory
{
    /// <summary>Where peers reach this node's group traffic ("host:port"), or null when groups never leave the process.</summary>
    string? Endpoint { get; }

    /// <summary>
    /// Joins group <paramref name="groupId"/> (one per run attempt) as <paramref name="rank"/>; returns when every rank
    /// is connected. <paramref name="token"/>: the attempt's secret (the coordinator's, in <c>StartRun</c>), which every
    /// connection between processes must present; null only where no stranger can reach the group (one process, tests).
    /// </summary>
    IProcessGroup Join(string groupId, int rank, IReadOnlyList<string?> endpoints, TimeSpan timeout, byte[]? token = null);
}

/// <summary>A collective could not complete: a peer left, timed out, or the group was aborted.</summary>
public sealed class CollectiveAbortedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How a buffer of a collective splits into one chunk per rank: nearly equal, in rank order.</summary>
public static class GroupChunks
{
    /// <summary>Chunk <paramref name="rank"/> of a buffer of <paramref name="length"/> elements split among <paramref name="size"/> ranks.</summary>
    public static (int Start, int Length) Of(int length, int size, int rank)
    {
        if (size < 1 || rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"chunk {rank} of {size}");
        var start = (int)((long)length * rank / size);
        var end = (int)((long)length * (rank + 1) / size);
        return (start, end - start);
    }
}
