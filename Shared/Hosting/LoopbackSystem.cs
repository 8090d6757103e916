using Akka.Actor;
using Akka.Configuration;

namespace MtnnCluster.Hosting;

/// <summary>
/// A bare remote actor system on 127.0.0.1 (a free port) with the MTNN serializer and the data plane on or off:
/// two of them exchange protocol messages as two nodes would, without a cluster. For the exchange benchmark and
/// the transport tests.
/// </summary>
public static class LoopbackSystem
{
    public static ActorSystem Create(string name, bool dataPlane) => ActorSystem.Create(name, ConfigurationFactory.ParseString($$"""
        akka.loglevel = WARNING
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.actor.serializers.mtnn = "MtnnCluster.Serialization.MtnnMessageSerializer, MtnnCluster.Shared"
        akka.actor.serialization-bindings { "MtnnCluster.Messages.IMtnnMessage, MtnnCluster.Shared" = mtnn }
        mtnn.data-plane.enabled = {{(dataPlane ? "on" : "off")}}
        {{Serialization.RefusingSerializer.Hocon}}
        """));
}
