using MessagePack;
using MtnnCluster.Transport;

namespace MtnnCluster.Serialization;

/// <summary>Options for decoding a message that came from another node: its tensors' bytes are lent by <see cref="TensorArrays"/>.</summary>
public sealed class ReceivingOptions : MessagePackSerializerOptions
{
    public TensorArrayPool TensorArrays { get; }

    public ReceivingOptions(MessagePackSerializerOptions options, TensorArrayPool tensorArrays) : base(options) => TensorArrays = tensorArrays;

    private ReceivingOptions(ReceivingOptions copyFrom) : base(copyFrom) => TensorArrays = copyFrom.TensorArrays;

    protected override MessagePackSerializerOptions Clone() => new ReceivingOptions(this);
}
