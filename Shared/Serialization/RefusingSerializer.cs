using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace MtnnCluster.Serialization;

/// <summary>
/// Takes the place of Akka's JSON serializer (id 1, bound to <see cref="object"/>) on every networked node. Upstream
/// that serializer decodes whatever .NET type the wire names, so any peer could have this process build objects of
/// its choosing; here id 1 decodes nothing, and a message of a type no serializer is bound to fails when it is
/// sent, naming its type, instead of travelling as JSON. The protocol's messages have their own serializer
/// (<see cref="MtnnMessageSerializer"/>, a closed list); Akka's own messages have theirs (fixed types). A
/// string-manifest serializer, so that Akka hands it the wire's type name as text and never resolves it.
/// </summary>
public sealed class RefusingSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The id of Akka's JSON serializer, which this one replaces.</summary>
    public const int JsonSerializerId = 1;

    /// <summary>HOCON that puts this serializer in the JSON serializer's place.</summary>
    public const string Hocon = """
        akka.actor.serializers.json = "MtnnCluster.Serialization.RefusingSerializer, MtnnCluster.Shared"
        akka.actor.serialization-identifiers { "MtnnCluster.Serialization.RefusingSerializer, MtnnCluster.Shared" = 1 }
        """;

    private static long _refused;

    /// <summary>The constructor Akka calls for a serializer that has settings (the JSON one's are ignored).</summary>
    public RefusingSerializer(ExtendedActorSystem system, Akka.Configuration.Config settings) : this(system)
    {
    }

    /// <summary>Payloads naming serializer id 1 refused in this process.</summary>
    public static long Refused => Interlocked.Read(ref _refused);

    public override int Identifier => JsonSerializerId;

    public override string Manifest(object o) => throw NotSendable(o);

    public override byte[] ToBinary(object obj) => throw NotSendable(obj);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        Interlocked.Increment(ref _refused);
        Telemetry.MtnnTelemetry.Refused("serializer", "json");
        manifest ??= ""; // upstream's JSON names the type inside the payload ($type), not in the manifest
        var named = manifest.Length > 200 ? manifest[..200] + "…" : manifest;
        throw new SerializationException($"refused a payload for serializer id {JsonSerializerId} (type '{named}'): this node decodes no type the wire names");
    }

    private static SerializationException NotSendable(object o) =>
        new($"{o.GetType().FullName} is not a protocol message and no serializer is bound to it: it cannot leave this node");
}
