using MessagePack;

namespace MtnnCluster.Messages;

/// <summary>One named float32 tensor as it travels: shape and little-endian bytes.</summary>
[MessagePackObject]
public sealed record TensorData(
    [property: Key(0)] string Name,
    [property: Key(1)] int[] Shape,
    [property: Key(2), MessagePackFormatter(typeof(Serialization.TensorBytesFormatter))] byte[] Bytes)
{
    [IgnoreMember]
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
}
