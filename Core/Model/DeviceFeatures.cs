using System.Runtime.InteropServices;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The feature rows a worker trains on, resident on its device in a compact form and expanded to float32 one batch
/// at a time on the device itself, so no batch crosses PCIe during an epoch. Fingerprint bits are packed 8 to a byte
/// (2048 bits: 256 bytes a row, 1/32 of float32). Features taking at most 255 distinct non-zero values (counts, or
/// their logarithms) are kept as compressed sparse rows: each set feature's index (4 bytes) and a one-byte code
/// into a table of the values, about as compact as packed bits for an ECFP. Anything else stays dense float32.
/// </summary>
public sealed class DeviceFeatures : ITrunkRows
{
    private enum Storage { Bits, SparseCodes, Floats }

    private readonly Storage _storage;
    /// <summary>Packed bits [rows × bytes], codes [set features] (uint8), or floats [rows × size].</summary>
    private readonly Tensor _data;
    /// <summary>
    /// For packed bits: row v of this [256 × 8] table is byte v's bits as floats (bit j is feature 8k + j of byte k).
    /// For codes: entry v [256] is code v's value.
    /// </summary>
    private readonly Tensor? _unpack;
    /// <summary>For codes: each code's value, on the host (read by <see cref="NonZeroRows"/>).</summary>
    private readonly float[]? _codeValues;
    /// <summary>For codes: each set feature's index (int32), row after row, and where each row starts (rows + 1, host and device).</summary>
    private readonly Tensor? _indices, _rowStartOnDevice;
    private readonly long[]? _rowStart;

    public long RowCount { get; }
    public int Size { get; }
    /// <summary>Bytes held on the device.</summary>
    public long StoredBytes => new[] { _data, _unpack, _indices, _rowStartOnDevice }.Sum(t => t is null ? 0 : t.NumberOfElements * t.ElementSize);
    public string Layout => _storage switch { Storage.Bits => "packed bits", Storage.SparseCodes => "sparse uint8 codes", _ => "float32" };

    private DeviceFeatures(Storage storage, Tensor data, Tensor? unpack, long rows, int size)
    {
        (_storage, _data, _unpack, RowCount, Size) = (storage, data, unpack, rows, size);
    }

    private DeviceFeatures(Tensor codes, Tensor indices, long[] rowStart, float[] codeValues, int size, Device device)
        : this(Storage.SparseCodes, codes, Upload(codeValues, [codeValues.Length], device), rowStart.Length - 1, size)
    {
        (_indices, _rowStart, _codeValues) = (indices, rowStart, codeValues);
        _rowStartOnDevice = Upload(rowStart, [rowStart.Length], device);
    }

    /// <summary>Rows <paramref name="rows"/> of <paramref name="features"/>, in that order, on <paramref name="device"/>.</summary>
    public static DeviceFeatures Create(IReadOnlyList<SparseFeatures> features, IReadOnlyList<int> rows, int size, Device device)
    {
        // the most compact storage every value fits: bits (all 1), codes (at most 255 distinct non-zero values), or float32
        var distinct = new HashSet<float>();
        long set = 0;
        foreach (var row in rows)
        {
            foreach (var index in features[row].Indices)
                if ((uint)index >= (uint)size) throw new ArgumentException($"feature index {index} is outside the feature size {size}");
            foreach (var v in features[row].Values)
                if (v != 0f)
                {
                    set++;
                    if (distinct.Count <= byte.MaxValue) distinct.Add(v);
                }
        }

        if (distinct.Count == 0 || distinct.SetEquals([1f])) return PackBits(features, rows, size, device);
        if (distinct.Count > byte.MaxValue)
            return new DeviceFeatures(Storage.Floats, Filled(features, rows, size, device), null, rows.Count, size);
        // codes 1.. in ascending order of value: the same table whatever the order of the rows
        var values = new float[256];
        var codeOf = new Dictionary<float, byte>();
        foreach (var (v, i) in distinct.Order().Select((v, i) => (v, i + 1)))
            (values[i], codeOf[v]) = (v, (byte)i);
        return SparseCodes(features, rows, size, set, codeOf, values, device);
    }

    /// <summary>Compressed sparse rows of codes, written straight into the tensors' memory.</summary>
    private static unsafe DeviceFeatures SparseCodes(IReadOnlyList<SparseFeatures> features, IReadOnlyList<int> rows, int size, long set,
        Dictionary<float, byte> codeOf, float[] values, Device device)
    {
        var rowStart = new long[rows.Count + 1];
        var codes = empty([set], ScalarType.Byte);
        var indices = empty([set], ScalarType.Int32);
        var code = (byte*)HostMemory.Address(codes);
        var index = (int*)HostMemory.Address(indices);
        long next = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = features[rows[i]];
            for (var k = 0; k < row.Indices.Length; k++)
            {
                if (row.Values[k] == 0f) continue;
                index[next] = row.Indices[k];
                code[next++] = codeOf[row.Values[k]];
            }
            rowStart[i + 1] = next;
        }
        return new DeviceFeatures(OnDevice(codes, device), OnDevice(indices, device), rowStart, values, size, device);
    }

    private static Tensor OnDevice(Tensor cpu, Device device)
    {
        if (device.type == DeviceType.CPU) return cpu;
        using (cpu) return cpu.to(device);
    }

    private static DeviceFeatures PackBits(IReadOnlyList<SparseFeatures> features, IReadOnlyList<int> rows, int size, Device device)
    {
        var rowBytes = (size + 7) / 8;
        var packed = new byte[(long)rows.Count * rowBytes];
        for (var i = 0; i < rows.Count; i++)
        {
            var offset = (long)i * rowBytes;
            foreach (var index in features[rows[i]].Indices) packed[offset + (index >> 3)] |= (byte)(1 << (index & 7));
        }
        var table = new float[256 * 8];
        for (var v = 0; v < 256; v++)
            for (var j = 0; j < 8; j++) table[v * 8 + j] = (v >> j) & 1;
        var unpack = Upload(table, [256, 8], device);
        return new DeviceFeatures(Storage.Bits, Upload(packed, [rows.Count, rowBytes], device), unpack, rows.Count, size);
    }

    /// <summary>The rows as a dense float32 [rows × size] tensor, written straight into the tensor's memory.</summary>
    private static unsafe Tensor Filled(IReadOnlyList<SparseFeatures> features, IReadOnlyList<int> rows, int size, Device device)
    {
        var cpu = zeros([rows.Count, size], ScalarType.Float32);
        var values = (float*)HostMemory.Address(cpu);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = features[rows[i]];
            for (var k = 0; k < row.Indices.Length; k++) values[(long)i * size + row.Indices[k]] = row.Values[k];
        }
        return OnDevice(cpu, device);
    }

    private static Tensor Upload<T>(T[] values, long[] shape, Device device) where T : unmanaged
    {
        var cpu = values switch
        {
            byte[] b => tensor(b, shape),
            float[] f => tensor(f, shape),
            long[] l => tensor(l, shape),
            _ => throw new NotSupportedException(typeof(T).Name),
        };
        if (device.type == DeviceType.CPU) return cpu;
        using (cpu) return cpu.to(device);
    }

    /// <summary>Float32 features [rows × size] of the rows at <paramref name="index"/> (int64, on the device).</summary>
    public Tensor Rows(Tensor index) => _storage == Storage.SparseCodes ? ExpandRows(index) : Expand(_data.index_select(0, index));

    /// <summary>Float32 features of rows [start, start + length).</summary>
    public Tensor Slice(long start, long length)
    {
        if (_storage != Storage.SparseCodes) return Expand(_data.narrow(0, start, length));
        using var index = arange(start, start + length, ScalarType.Int64, _data.device);
        return ExpandRows(index);
    }

    /// <summary>
    /// Sparse rows expanded on the device: each selected row's run of set features found from the row offsets
    /// (as <see cref="DeviceLabels"/> finds a batch's cells), their values looked up by code and written into zeros.
    /// </summary>
    private Tensor ExpandRows(Tensor index)
    {
        using var scope = NewDisposeScope();
        var rows = index.shape[0];
        var (rowOf, at) = CompressedRows.Runs(_rowStartOnDevice!, index, total: null);
        var values = _unpack!.index_select(0, _data.index_select(0, at).to(ScalarType.Int64));
        var cells = rowOf.mul(Size).add(_indices!.index_select(0, at).to(ScalarType.Int64));
        var dense = zeros([rows * Size], ScalarType.Float32, index.device).index_copy_(0, cells, values);
        return dense.view(rows, Size).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The non-zero features of rows [start, start + length) as an embedding bag takes them: feature indices row
    /// after row, each row's offset into them, and their values (null: all 1). Read straight from packed bits or
    /// bytes in host memory, without expanding a [rows × size] float block to find them; null on a GPU or for
    /// float32 storage, where <see cref="Slice"/> and <see cref="SparseFirstLayer.NonZeroRowsOf"/> do it on the device.
    /// </summary>
    public SparseRows? NonZeroSlice(long start, long length)
    {
        var rows = new long[length];
        for (var i = 0; i < length; i++) rows[i] = start + i;
        return NonZeroRows(rows);
    }

    /// <summary><see cref="NonZeroSlice"/> of the stored rows at <paramref name="rows"/>, in that order (a training batch).</summary>
    public SparseRows? NonZeroRows(IReadOnlyList<long> rows)
    {
        if (_data.device_type != DeviceType.CPU || _storage == Storage.Floats || !_data.is_contiguous()) return null;
        return _storage == Storage.SparseCodes ? NonZeroOfSparse(rows) : NonZeroOfBits(rows);
    }

    /// <summary>Each row's run of the compressed rows, copied out, codes looked up.</summary>
    private SparseRows NonZeroOfSparse(IReadOnlyList<long> rows)
    {
        var rowStart = _rowStart!;
        long count = 0;
        foreach (var row in rows) count += rowStart[row + 1] - rowStart[row];
        var (indices, offsets, values) = (new long[count], new long[rows.Count], new float[count]);
        ReadOnlySpan<int> stored = MemoryMarshal.Cast<byte, int>(_indices!.bytes);
        ReadOnlySpan<byte> codes = _data.bytes;
        long next = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            offsets[i] = next;
            for (var k = rowStart[rows[i]]; k < rowStart[rows[i] + 1]; k++, next++)
                (indices[next], values[next]) = (stored[(int)k], _codeValues![codes[(int)k]]);
        }
        return new SparseRows(tensor(indices), tensor(offsets), tensor(values), rows.Count, Size);
    }

    /// <summary>The set bits of each row, found in its packed bytes eight at a time (bit k of byte j is feature 8j + k).</summary>
    private SparseRows NonZeroOfBits(IReadOnlyList<long> rows)
    {
        var width = (int)_data.shape[1];
        ReadOnlySpan<byte> stored = _data.bytes;
        long count = 0;
        foreach (var row in rows) count += SetBits(stored.Slice(checked((int)(row * width)), width), []);
        var (indices, offsets) = (new long[count], new long[rows.Count]);
        long next = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            offsets[i] = next;
            next += SetBits(stored.Slice(checked((int)(rows[i] * width)), width), indices.AsSpan((int)next));
        }
        return new SparseRows(tensor(indices), tensor(offsets), null, rows.Count, Size);
    }

    /// <summary>The indices of the set bits of <paramref name="bytes"/>, in order, into <paramref name="into"/> unless it is empty; returns how many.</summary>
    private static int SetBits(ReadOnlySpan<byte> bytes, Span<long> into)
    {
        var (found, write) = (0, !into.IsEmpty);
        var words = MemoryMarshal.Cast<byte, ulong>(bytes[..(bytes.Length / 8 * 8)]);
        for (var j = 0; j < words.Length; j++)
        {
            var word = BitConverter.IsLittleEndian ? words[j] : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(words[j]);
            if (!write) { found += System.Numerics.BitOperations.PopCount(word); continue; }
            for (; word != 0; word &= word - 1) into[found++] = 64L * j + System.Numerics.BitOperations.TrailingZeroCount(word);
        }
        for (var k = words.Length * 8; k < bytes.Length; k++)
            for (var bit = 0; bit < 8; bit++)
                if ((bytes[k] >> bit & 1) != 0)
                {
                    if (write) into[found] = 8L * k + bit;
                    found++;
                }
        return found;
    }

    private Tensor Expand(Tensor stored)
    {
        switch (_storage)
        {
            case Storage.Bits:
                var rows = stored.shape[0];
                using (var codes = stored.flatten().to(ScalarType.Int64))
                using (var bits = _unpack!.index_select(0, codes))
                using (var wide = bits.view(rows, stored.shape[1] * 8))
                {
                    stored.Dispose();
                    return wide.shape[1] == Size ? wide.alias() : wide.narrow(1, 0, Size);
                }
            default:
                return stored;
        }
    }

    public void Dispose()
    {
        _data.Dispose();
        _unpack?.Dispose();
        _indices?.Dispose();
        _rowStartOnDevice?.Dispose();
    }
}

/// <summary>Rows of features as their non-zero entries (an embedding bag's input); <see cref="Values"/> null: all 1.</summary>
public sealed record SparseRows(Tensor Indices, Tensor Offsets, Tensor? Values, long Rows, int Size)
{
    /// <summary>The fraction of the [rows × size] block that is non-zero.</summary>
    public double Density => Rows == 0 ? 0 : (double)Indices.shape[0] / (Rows * Size);

    /// <summary>
    /// The same rows with each entry's value multiplied by <paramref name="mask"/> [rows × size] at its row and
    /// feature (input dropout: the entries of dropped features become 0). Call inside a dispose scope.
    /// </summary>
    public SparseRows Masked(Tensor mask)
    {
        if (Rows == 0) return this;
        var entries = Indices.shape[0];
        var counts = cat([Offsets.narrow(0, 1, Rows - 1), tensor(new[] { entries }, device: Offsets.device)]).sub(Offsets);
        var rowOf = arange(Rows, ScalarType.Int64, Offsets.device).repeat_interleave(counts, output_size: entries);
        var kept = mask.reshape(-1).index_select(0, rowOf.mul(Size).add(Indices));
        return this with { Values = Values is null ? kept : Values.mul(kept) };
    }
}
