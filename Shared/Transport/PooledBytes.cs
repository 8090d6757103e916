using System.Buffers;

namespace MtnnCluster.Transport;

/// <summary>
/// Bytes in an array rented from <see cref="Pool"/>: serialized messages of tens of megabytes come and go every
/// training step, and renting keeps them off the large-object heap's allocate-and-collect cycle. Reference
/// counted: <see cref="Share"/> adds an owner (one serialized trunk offered to several workers), each owner
/// disposes once, and the last returns the array.
/// </summary>
public sealed class PooledBytes : IDisposable
{
    /// <summary>Arrays up to 1 GiB, a few per size class: a trunk, its gradient and one in flight each way.</summary>
    public static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(1 << 30, 8);

    private byte[]? _array;
    private int _owners = 1;

    public int Length { get; }

    internal PooledBytes(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    public static PooledBytes Rent(int length) => new(Pool.Rent(length), length);

    public Memory<byte> Memory => Array.AsMemory(0, Length);
    public Span<byte> Span => Array.AsSpan(0, Length);

    private byte[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledBytes));

    /// <summary>One more owner of the same bytes; it disposes its share when done.</summary>
    public PooledBytes Share()
    {
        if (Interlocked.Increment(ref _owners) <= 1) throw new ObjectDisposedException(nameof(PooledBytes));
        return this;
    }

    public void Dispose()
    {
        if (Interlocked.Decrement(ref _owners) != 0) return;
        var array = Interlocked.Exchange(ref _array, null);
        if (array is not null) Pool.Return(array);
    }
}

/// <summary>An <see cref="IBufferWriter{T}"/> over pooled arrays: the serializer writes into it, then it becomes <see cref="PooledBytes"/>.</summary>
public sealed class PooledBufferWriter(int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    private byte[]? _buffer = PooledBytes.Pool.Rent(Math.Max(initialCapacity, 256));
    private int _written;

    public int WrittenCount => _written;

    public void Advance(int count)
    {
        if (count < 0 || _written + count > Buffer.Length) throw new ArgumentOutOfRangeException(nameof(count));
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_written);

    public Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_written);

    /// <summary>Hands the written bytes over; this writer is empty afterwards.</summary>
    public PooledBytes Detach()
    {
        var bytes = new PooledBytes(Buffer, _written);
        _buffer = null;
        _written = 0;
        return bytes;
    }

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(PooledBufferWriter));

    private byte[] Reserve(int sizeHint)
    {
        var needed = (long)_written + Math.Max(sizeHint, 1);
        if (needed <= Buffer.Length) return Buffer;
        if (needed > 1 << 30) throw new InvalidOperationException($"a serialized message over 1 GiB ({needed} bytes) cannot be sent");
        var larger = PooledBytes.Pool.Rent((int)Math.Min(1 << 30, Math.Max(needed, 2L * Buffer.Length)));
        Buffer.AsSpan(0, _written).CopyTo(larger);
        PooledBytes.Pool.Return(Buffer);
        _buffer = larger;
        return larger;
    }

    public void Dispose()
    {
        if (_buffer is not null) PooledBytes.Pool.Return(_buffer);
        _buffer = null;
    }
}
