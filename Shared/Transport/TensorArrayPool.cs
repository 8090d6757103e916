using System.Runtime.CompilerServices;
using MtnnCluster.Messages;
using MtnnCluster.Model;

namespace MtnnCluster.Transport;

/// <summary>
/// Arrays for the bytes of tensors received from another node, reused round after round: a fresh 16 MB array costs
/// about 12 ms to fault in on this project's VM even prefaulted (<see cref="FreshArrays"/>), against 1–2 ms to fill
/// one whose pages are mapped already (BENCHMARKS.md). Ownership is explicit. An array is lent to the message it is
/// deserialized into (only messages received from another node: <see cref="Serialization.ReceivingOptions"/>),
/// and only the consumer that has copied that message's tensors out gives it back with <see cref="Return(IEnumerable{TensorData})"/>:
/// the worker once its trainer has loaded the trunk, the coordinator once the gradients are reduced. An array this
/// pool has not lent, or has taken back already, is ignored: returning a message that never left its process (its
/// tensors are the sender's own, perhaps still in a snapshot) or returning one twice hands nothing out again. A lent
/// array that is never returned is collected like any other.
/// </summary>
public sealed class TensorArrayPool(long maxFreeBytes = 1L << 30)
{
    /// <summary>Below this an array is a few pages: allocating it is cheap, and it is neither lent nor kept.</summary>
    public const int MinBytes = 64 * 1024;

    /// <summary>The pool of this process's received messages.</summary>
    public static TensorArrayPool Shared { get; } = new();

    private static readonly object Lent = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<int, Stack<byte[]>> _free = [];
    private readonly ConditionalWeakTable<byte[], object> _lent = []; // weak keys: an array never returned is still collected
    private long _freeBytes, _reused, _allocated;

    /// <summary>Bytes held for reuse: at most the most that was lent at once, and never over the limit given.</summary>
    public long FreeBytes
    {
        get { lock (_gate) return _freeBytes; }
    }

    /// <summary>Rents served from returned arrays.</summary>
    public long Reused => Interlocked.Read(ref _reused);

    /// <summary>Rents that needed a new array.</summary>
    public long Allocated => Interlocked.Read(ref _allocated);

    /// <summary>
    /// An array of exactly <paramref name="length"/> bytes with undefined contents (the caller writes every byte),
    /// lent until it is returned; arrays under <see cref="MinBytes"/> are plain new ones.
    /// </summary>
    public byte[] Rent(int length)
    {
        if (length < MinBytes) return FreshArrays.ForWriting(length);
        byte[]? array = null;
        lock (_gate)
            if (_free.TryGetValue(length, out var free) && free.TryPop(out array))
                _freeBytes -= length;
        if (array is null)
        {
            array = FreshArrays.ForWriting(length);
            Interlocked.Increment(ref _allocated);
        }
        else Interlocked.Increment(ref _reused);
        _lent.Add(array, Lent);
        return array;
    }

    /// <summary>
    /// Takes <paramref name="array"/> back if this pool lent it and it has not come back yet; false (and nothing
    /// done) otherwise. The caller must hold the last reference to it that anyone will read.
    /// </summary>
    public bool Return(byte[] array)
    {
        if (!_lent.Remove(array)) return false; // atomic: of two racing returns, one wins
        lock (_gate)
        {
            if (_freeBytes + array.Length > maxFreeBytes) return true; // taken back, but let go: the pool is full
            if (!_free.TryGetValue(array.Length, out var free)) _free[array.Length] = free = new Stack<byte[]>();
            free.Push(array);
            _freeBytes += array.Length;
        }
        return true;
    }

    /// <summary>Returns the bytes of every tensor given; returns how many arrays were taken back.</summary>
    public int Return(IEnumerable<TensorData> tensors) => tensors.Count(t => Return(t.Bytes));
}
