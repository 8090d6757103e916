using System.Buffers;
using Akka.Actor;
using Akka.Serialization;
using MessagePack;
using MessagePack.Resolvers;

namespace MtnnCluster.Serialization;

/// <summary>
/// Akka serializer for every MtnnCluster message: MessagePack in its untrusted-data mode (hash-collision resistant
/// collections, bounded depth), with the manifest taken from <see cref="ProtocolRegistry"/>.
/// </summary>
public sealed class MtnnMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerId = 7411;

    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(32));

    public override int Identifier => SerializerId;

    public override string Manifest(object o) =>
        ProtocolRegistry.CodeByType.TryGetValue(o.GetType(), out var code)
            ? code
            : throw new ArgumentException($"{o.GetType().Name} is not a protocol message");

    public override byte[] ToBinary(object obj) => MessagePackSerializer.Serialize(obj.GetType(), obj, Options);

    /// <summary>Serializes straight into <paramref name="writer"/> (a pooled buffer), without an intermediate array.</summary>
    public void Serialize(IBufferWriter<byte> writer, object obj) => MessagePackSerializer.Serialize(obj.GetType(), writer, obj, Options);

    public override object FromBinary(byte[] bytes, string manifest) => FromBinary(bytes.AsMemory(), manifest);

    public object FromBinary(ReadOnlyMemory<byte> bytes, string manifest)
    {
        if (!ProtocolRegistry.TypeByCode.TryGetValue(manifest, out var type))
            throw new System.Runtime.Serialization.SerializationException($"unknown protocol message '{manifest}' (this node speaks version {ProtocolRegistry.ProtocolVersion})");
        return MessagePackSerializer.Deserialize(type, bytes, Options)
               ?? throw new System.Runtime.Serialization.SerializationException($"empty {manifest} message");
    }
}
