using System.Buffers;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using MessagePack;
using MessagePack.Resolvers;
using MtnnCluster.Transport;

namespace MtnnCluster.Serialization;

/// <summary>
/// Akka serializer for every MtnnCluster message: MessagePack in its untrusted-data mode (hash-collision resistant
/// collections, bounded depth), with the manifest taken from <see cref="ProtocolRegistry"/>. Whatever the bytes,
/// <see cref="FromBinary"/> returns a message that passed <see cref="ProtocolLimits"/> or throws
/// <see cref="SerializationException"/>, and counts it in <see cref="RejectedMessages"/>.
/// </summary>
public sealed class MtnnMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerId = 7411;

    private static long _rejected;

    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(CompositeResolver.Create(CoreTypeFormatters.All, [StandardResolver.Instance]))
        .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(32));

    /// <summary>Messages refused in this process: unknown manifest (another protocol version), malformed or out of limits.</summary>
    public static long RejectedMessages => Interlocked.Read(ref _rejected);

    public override int Identifier => SerializerId;

    public override string Manifest(object o) =>
        ProtocolRegistry.CodeByType.TryGetValue(o.GetType(), out var code)
            ? code
            : throw new ArgumentException($"{o.GetType().Name} is not a protocol message");

    public override byte[] ToBinary(object obj) => MessagePackSerializer.Serialize(obj.GetType(), obj, Options);

    /// <summary>Serializes straight into <paramref name="writer"/> (a pooled buffer), without an intermediate array.</summary>
    public void Serialize(IBufferWriter<byte> writer, object obj) => MessagePackSerializer.Serialize(obj.GetType(), writer, obj, Options);

    public override object FromBinary(byte[] bytes, string manifest) => FromBinary(bytes.AsMemory(), manifest);

    /// <summary>
    /// Decodes a message; with <paramref name="lendFrom"/> (a message received from another node, whose consumer
    /// returns its tensors) the tensors' bytes are lent by that pool.
    /// </summary>
    public object FromBinary(ReadOnlyMemory<byte> bytes, string manifest, TensorArrayPool? lendFrom = null)
    {
        try
        {
            if (!ProtocolRegistry.TypeByCode.TryGetValue(manifest, out var type))
                throw new SerializationException(
                    $"unknown protocol message '{Shorten(manifest)}' (this node speaks version {ProtocolRegistry.ProtocolVersion})");
            if (bytes.Length > ProtocolLimits.MaxMessageBytes)
                throw new SerializationException($"{manifest}: {bytes.Length} bytes exceed the {ProtocolLimits.MaxMessageBytes}-byte limit");
            var message = MessagePackSerializer.Deserialize(type, bytes, lendFrom is null ? Options : new ReceivingOptions(Options, lendFrom))
                          ?? throw new SerializationException($"empty {manifest} message");
            ProtocolLimits.Check(message);
            return message;
        }
        catch (Exception e) when (e is SerializationException or MessagePackSerializationException)
        {
            Interlocked.Increment(ref _rejected);
            var cause = e; // MessagePack wraps a formatter's refusal in "failed to deserialize": name the refusal itself
            while (cause.InnerException is MessagePackSerializationException or SerializationException) cause = cause.InnerException;
            throw e as SerializationException ?? new SerializationException($"malformed {Shorten(manifest)} message: {cause.Message}", e);
        }
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
