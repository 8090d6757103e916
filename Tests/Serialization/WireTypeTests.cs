using Akka.Actor;
using Akka.Configuration;
using MtnnCluster.Hosting;
using MtnnCluster.Serialization;
using Xunit;

namespace MtnnCluster.Tests.Serialization;

/// <summary>What a type named by the wire can do once built: here, count itself (a stand-in for a deserialization gadget).</summary>
public sealed class WireGadget
{
    public static int Built;

    public string Payload
    {
        get => "";
        set => Interlocked.Increment(ref Built);
    }
}

/// <summary>
/// A peer names Akka's JSON serializer (id 1) and a .NET type of its choosing: a networked node must build nothing.
/// Two actor systems on 127.0.0.1 with real remoting; the sender is a stock Akka system, whose JSON serializer
/// writes what upstream's would accept.
/// </summary>
public sealed class WireTypeTests
{
    private sealed class Sink : ReceiveActor
    {
        public Sink(TaskCompletionSource<object> received) => ReceiveAny(m => received.TrySetResult(m));
    }

    [Fact]
    public async Task A_node_decodes_no_type_the_wire_names()
    {
        using var node = LoopbackSystem.Create("node", dataPlane: false);
        using var peer = ActorSystem.Create("peer", ConfigurationFactory.ParseString("""
            akka.loglevel = WARNING
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            """));
        var received = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.ActorOf(Props.Create(() => new Sink(received)), "sink");
        var address = ((ExtendedActorSystem)node).Provider.DefaultAddress;
        var sink = await peer.ActorSelection($"{address}/user/sink").ResolveOne(TimeSpan.FromSeconds(10));

        var before = (WireGadget.Built, RefusingSerializer.Refused);
        sink.Tell(new WireGadget { Payload = "x" }); // built once here, by the sender
        sink.Tell("a string travels with Akka's own serializer, and arrives"); // the same connection still works after
        Assert.Equal("a string travels with Akka's own serializer, and arrives", await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(before.Built + 1, WireGadget.Built); // the receiving node built none
        Assert.Equal(before.Refused + 1, RefusingSerializer.Refused);
    }

    [Fact]
    public void A_node_refuses_to_send_a_type_no_serializer_is_bound_to()
    {
        using var node = LoopbackSystem.Create("node", dataPlane: false);
        var serializer = node.Serialization.FindSerializerFor(new WireGadget());
        Assert.IsType<RefusingSerializer>(serializer);
        var error = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer!.ToBinary(new WireGadget()));
        Assert.Contains(nameof(WireGadget), error.Message);
    }
}
