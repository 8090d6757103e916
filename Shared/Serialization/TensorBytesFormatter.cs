using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using MtnnCluster.Transport;

namespace MtnnCluster.Serialization;

/// <summary>
/// The bytes of a <see cref="Messages.TensorData"/>: the same MessagePack bin as the standard formatter. Read into
/// an array from <see cref="FreshArrays"/> (no zeroing, pages faulted in at once) since every byte is copied over
/// it; a message received from another node (<see cref="ReceivingOptions"/>) borrows the array from its
/// <see cref="TensorArrayPool"/> instead, for its consumer to return.
/// </summary>
public sealed class TensorBytesFormatter : IMessagePackFormatter<byte[]?>
{
    public void Serialize(ref MessagePackWriter writer, byte[]? value, MessagePackSerializerOptions options) => writer.Write(value);

    public byte[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadBytes() is not { } source) return null;
        var length = checked((int)source.Length);
        var bytes = options is ReceivingOptions receiving ? receiving.TensorArrays.Rent(length) : FreshArrays.ForWriting(length);
        source.CopyTo(bytes);
        return bytes;
    }
}

/// <summary>Options for decoding a message that came from another node: its tensors' bytes are lent by <see cref="TensorArrays"/>.</summary>
public sealed class ReceivingOptions : MessagePackSerializerOptions
{
    public TensorArrayPool TensorArrays { get; }

    public ReceivingOptions(MessagePackSerializerOptions options, TensorArrayPool tensorArrays) : base(options) => TensorArrays = tensorArrays;

    private ReceivingOptions(ReceivingOptions copyFrom) : base(copyFrom) => TensorArrays = copyFrom.TensorArrays;

    protected override MessagePackSerializerOptions Clone() => new ReceivingOptions(this);
}
