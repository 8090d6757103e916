using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using MtnnCluster.Transport;

namespace MtnnCluster.Serialization;

/// <summary>
/// The bytes of a <see cref="Messages.TensorData"/>: the same MessagePack bin as the standard formatter, read into an
/// array from <see cref="FreshArrays"/> (no zeroing, pages faulted in at once) since every byte is copied over it.
/// </summary>
public sealed class TensorBytesFormatter : IMessagePackFormatter<byte[]?>
{
    public void Serialize(ref MessagePackWriter writer, byte[]? value, MessagePackSerializerOptions options) => writer.Write(value);

    public byte[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadBytes() is not { } source) return null;
        var bytes = FreshArrays.ForWriting(checked((int)source.Length));
        source.CopyTo(bytes);
        return bytes;
    }
}
