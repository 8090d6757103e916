using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MtnnCluster.Model;

namespace MtnnCluster.Checkpoints;

/// <summary>
/// A list of float32 tensors as one file in the safetensors layout (8-byte little-endian header length, a JSON header
/// naming each tensor's dtype, shape and byte range, then the bytes), so that checkpoints open in Python's
/// <c>safetensors</c> as well. Keys are <c>NNNN/name</c>: the index keeps the order, and lets one file hold tensors
/// of the same name (a parameter, its moments and its best copy).
/// </summary>
public static class TensorFile
{
    private const string Float32 = "F32";

    /// <summary>The largest header read (upstream safetensors' cap): a length field above it is refused before any allocation.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static byte[] Serialize(IReadOnlyList<TensorData> tensors)
    {
        var header = new Dictionary<string, object>(tensors.Count);
        long offset = 0;
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            header[Key(i, t.Name)] = new { dtype = Float32, shape = t.Shape, data_offsets = new[] { offset, offset + t.Bytes.LongLength } };
            offset += t.Bytes.LongLength;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        var padded = (json.Length + 7) / 8 * 8; // the layout pads the header with spaces to an 8-byte boundary
        var file = new byte[checked(8 + padded + (int)offset)];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        var at = 8 + padded;
        foreach (var t in tensors)
        {
            t.Bytes.CopyTo(file, at);
            at += t.Bytes.Length;
        }
        return file;
    }

    /// <summary>Reads the tensors back in the order written; any inconsistency is an <see cref="InvalidDataException"/> naming <paramref name="what"/>.</summary>
    public static TensorData[] Deserialize(byte[] file, string what)
    {
        if (file.Length < 8) throw new InvalidDataException($"{what}: {file.Length} bytes, too short for a tensor file");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes) throw new InvalidDataException($"{what}: header of {headerLength} bytes, over the {MaxHeaderBytes}-byte limit");
        if (headerLength > (ulong)(file.Length - 8)) throw new InvalidDataException($"{what}: header of {headerLength} bytes in a file of {file.Length}");
        var dataStart = 8 + (int)headerLength;
        var entries = new List<(int Index, TensorData Tensor)>();
        var ranges = new List<(long Start, long End, string Name)>();
        try
        {
            using var header = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
            foreach (var entry in header.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                var slash = entry.Name.IndexOf('/');
                if (slash <= 0 || !int.TryParse(entry.Name.AsSpan(0, slash), out var index))
                    throw new InvalidDataException($"{what}: tensor key '{entry.Name}' is not INDEX/name");
                var dtype = entry.Value.GetProperty("dtype").GetString();
                if (dtype != Float32) throw new InvalidDataException($"{what}: tensor {entry.Name} is {dtype}, only {Float32} is read");
                var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var range = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                if (shape.FirstOrDefault(d => d < 0) is var negative and < 0)
                    throw new InvalidDataException($"{what}: tensor {entry.Name} has a negative dimension ({negative}) in shape [{string.Join(',', shape)}]");
                long elements;
                try
                {
                    elements = shape.Aggregate(1L, (n, d) => checked(n * d));
                }
                catch (OverflowException)
                {
                    throw new InvalidDataException($"{what}: tensor {entry.Name} has shape [{string.Join(',', shape)}], more elements than a file can hold");
                }
                if (elements > long.MaxValue / sizeof(float))
                    throw new InvalidDataException($"{what}: tensor {entry.Name} has shape [{string.Join(',', shape)}], more elements than a file can hold");
                if (range.Length != 2 || range[0] < 0 || range[1] < range[0] || dataStart + range[1] > file.Length || elements * sizeof(float) != range[1] - range[0])
                    throw new InvalidDataException($"{what}: tensor {entry.Name} has shape [{string.Join(',', shape)}] and bytes [{string.Join(',', range)}], which do not fit");
                entries.Add((index, new TensorData(entry.Name[(slash + 1)..], shape, file.AsSpan(dataStart + (int)range[0], (int)(range[1] - range[0])).ToArray())));
                ranges.Add((range[0], range[1], entry.Name));
            }
            // two tensors over the same bytes would alias each other's values (upstream refuses them too)
            ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
            for (var i = 1; i < ranges.Count; i++)
                if (ranges[i].Start < ranges[i - 1].End)
                    throw new InvalidDataException($"{what}: tensors {ranges[i - 1].Name} [{ranges[i - 1].Start},{ranges[i - 1].End}) and {ranges[i].Name} [{ranges[i].Start},{ranges[i].End}) overlap");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"{what}: unreadable tensor header ({e.Message})", e);
        }
        entries.Sort((a, b) => a.Index.CompareTo(b.Index));
        if (entries.Select((e, i) => e.Index != i).Any(wrong => wrong))
            throw new InvalidDataException($"{what}: tensor indices are not 0..{entries.Count - 1}");
        return entries.Select(e => e.Tensor).ToArray();
    }

    private static string Key(int index, string name) => $"{index:D4}/{name}";
}
