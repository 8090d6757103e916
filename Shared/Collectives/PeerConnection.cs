using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MtnnCluster.Collectives;

/// <summary>What a frame belongs to, so that a peer in another collective than this rank is caught at once.</summary>
internal enum FrameKind
{
    AllToAll = 1,
    ReduceScatter = 2,
    AllGather = 3,
    /// <summary>The barriers and the set-up of <see cref="SameHostMemory"/>.</summary>
    SharedMemory = 4,
}

/// <summary>
/// One rank's connection to one peer in a <see cref="TcpProcessGroup"/>. A frame is a header (call number, this
/// direction's frame sequence number, <see cref="FrameKind"/>, float count; little-endian) and the floats' bytes as
/// they lie in memory, so a peer that has missed or repeated a frame or a call is detected at its next header. One
/// send and one receive may run at the same time (the stream is full duplex); each read and write is bounded by the
/// IO timeout. A frame of any length is refused over <paramref name="maxFrameFloats"/>, and received into an array
/// that grows as its bytes arrive: a header alone cannot make this rank allocate what the peer never sends.
/// </summary>
internal sealed class PeerConnection(int rank, string endpoint, Socket socket, Stream stream, TimeSpan ioTimeout, int maxFrameFloats = TcpProcessGroups.DefaultMaxFrameFloats)
    : IDisposable
{
    public const int HeaderBytes = 24;

    /// <summary>The first slice of a frame of any length, in floats (4 MiB); the array doubles as each slice arrives.</summary>
    private const int FirstSliceFloats = 1 << 20;

    // A payload this small goes out in the header's write: one segment and one wakeup at the peer instead of two.
    private const int CoalescedBytes = 64 << 10;

    private readonly byte[] _sendBuffer = new byte[HeaderBytes + CoalescedBytes];
    private readonly byte[] _receiveHeader = new byte[HeaderBytes];
    private long _sent, _received;

    public int Rank => rank;
    public string Endpoint => endpoint;

    public async Task SendAsync(long call, FrameKind kind, float[] array, int start, int count)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_sendBuffer, call);
        BinaryPrimitives.WriteInt64LittleEndian(_sendBuffer.AsSpan(8), _sent++);
        BinaryPrimitives.WriteInt32LittleEndian(_sendBuffer.AsSpan(16), (int)kind);
        BinaryPrimitives.WriteInt32LittleEndian(_sendBuffer.AsSpan(20), count);
        var payload = MemoryMarshal.AsBytes(array.AsSpan(start, count));
        using var timeout = new CancellationTokenSource(ioTimeout);
        if (payload.Length <= CoalescedBytes)
        {
            payload.CopyTo(_sendBuffer.AsSpan(HeaderBytes));
            await stream.WriteAsync(_sendBuffer.AsMemory(0, HeaderBytes + payload.Length), timeout.Token);
            return;
        }
        await stream.WriteAsync(_sendBuffer.AsMemory(0, HeaderBytes), timeout.Token);
        await stream.WriteAsync(new FloatBytes(array, start, count).Memory, timeout.Token);
    }

    /// <summary>Receives a frame of any length into a new array.</summary>
    public async Task<float[]> ReceiveAsync(long call, FrameKind kind)
    {
        var count = await ReceiveHeaderAsync(call, kind, expected: null);
        var array = new float[Math.Min(count, FirstSliceFloats)];
        for (var filled = 0; filled < count;)
        {
            if (filled == array.Length) Array.Resize(ref array, (int)Math.Min(count, 2L * array.Length));
            var slice = array.Length - filled;
            await ReceivePayloadAsync(array, filled, slice);
            filled += slice;
        }
        return array;
    }

    /// <summary>Receives a frame of exactly <paramref name="count"/> floats into <paramref name="into"/> at <paramref name="start"/>.</summary>
    public async Task ReceiveIntoAsync(long call, FrameKind kind, float[] into, int start, int count)
    {
        await ReceiveHeaderAsync(call, kind, count);
        await ReceivePayloadAsync(into, start, count);
    }

    private async Task<int> ReceiveHeaderAsync(long call, FrameKind kind, int? expected)
    {
        using (var timeout = new CancellationTokenSource(ioTimeout)) await stream.ReadExactlyAsync(_receiveHeader, timeout.Token);
        var header = _receiveHeader.AsSpan();
        var (peerCall, sequence) = (BinaryPrimitives.ReadInt64LittleEndian(header), BinaryPrimitives.ReadInt64LittleEndian(header[8..]));
        var (peerKind, count) = ((FrameKind)BinaryPrimitives.ReadInt32LittleEndian(header[16..]), BinaryPrimitives.ReadInt32LittleEndian(header[20..]));
        if (sequence != _received++)
            throw new InvalidDataException($"frame {sequence} arrived where frame {_received - 1} was due");
        if (peerCall != call || peerKind != kind)
            throw new InvalidDataException($"the peer is in call {peerCall} ({peerKind}) while this rank is in call {call} ({kind})");
        if (count < 0 || count > maxFrameFloats)
            throw new InvalidDataException($"rank {rank} at {endpoint} announced a frame of {count} floats, outside 0..{maxFrameFloats} (the frame cap)");
        if (expected is { } e && count != e)
            throw new InvalidDataException($"the peer sent {count} floats where {e} was due (buffers of different lengths?)");
        return count;
    }

    private async Task ReceivePayloadAsync(float[] into, int start, int count)
    {
        if (count == 0) return;
        using var timeout = new CancellationTokenSource(ioTimeout);
        await stream.ReadExactlyAsync(new FloatBytes(into, start, count).Memory, timeout.Token);
    }

    /// <summary>Closes the socket: this rank's blocked calls fail, and so do the peer's, at once.</summary>
    public void Dispose()
    {
        socket.Dispose();
        stream.Dispose();
    }

    /// <summary>Floats seen as their bytes, for the stream calls that take <see cref="Memory{T}"/>: the socket reads and writes the array itself.</summary>
    private sealed class FloatBytes(float[] array, int start, int count) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan(start, count));

        public override unsafe MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + (long)start * sizeof(float) + elementIndex, handle, this);
        }

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
