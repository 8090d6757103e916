using Akka;
using Akka.Actor;
using Akka.Event;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;

namespace MtnnCluster.Hosting;

/// <summary>
/// What the coordinator and the worker share about talking to each other: large messages leave through
/// <see cref="Delivery"/> (chunks, or the data plane) and arrive as chunks or data-plane offers, which are put back
/// together and delivered to the actor itself as the whole message; and a task for the node's coordinated shutdown.
/// </summary>
public abstract class ProtocolActor : ReceiveActor
{
    private readonly ChunkAssembler _assembler;

    protected ChunkedDelivery Delivery { get; }

    protected ProtocolActor()
    {
        var system = (ExtendedActorSystem)Context.System;
        Delivery = new ChunkedDelivery(system);
        _assembler = new ChunkAssembler(system);
    }

    /// <summary>
    /// Reassembles chunks and fetches offers of the run <paramref name="expectedRunId"/> names (null: any run's) that
    /// come from an actor <paramref name="from"/> accepts; the others are refused (<see cref="Refused"/>) before any
    /// byte is buffered or any connection made. Call it where the behaviour registers its handlers: a reassembled
    /// message is then filtered like any other.
    /// </summary>
    protected void ReceiveTransfers(Func<string?> expectedRunId, Func<IActorRef, bool> from)
    {
        Receive<MessageChunk>(chunk =>
        {
            if (!from(Sender)) Refused(chunk);
            else if (_assembler.Add(chunk, Sender, expectedRunId()) is { } whole) Self.Tell(whole, Sender);
        });
        Receive<BlobOffer>(offer =>
        {
            if (!from(Sender)) Refused(offer);
            else Delivery.Fetch(offer, Self, Sender, expectedRunId());
        });
    }

    /// <summary>Messages refused as a stranger's: dropped, counted here and in the <c>mtnn.messages.refused</c> metric.</summary>
    public long RefusedCount { get; private set; }

    /// <summary>
    /// Drops <paramref name="message"/>, which came from an actor it must not come from: counted (this actor's
    /// <see cref="RefusedCount"/> and the <c>mtnn.messages.refused</c> metric) and logged once per message type.
    /// </summary>
    protected void Refused(object message)
    {
        RefusedCount++;
        var type = message.GetType().Name;
        Telemetry.MtnnTelemetry.Refused(GetType().Name, type);
        if (_loggedRefusals.Add(type))
            Context.GetLogger().Warning("{0} refused {1} from {2}, which is not the actor it must come from (further ones are only counted: mtnn.messages.refused)",
                Self.Path.Name, type, Sender.Path);
    }

    private readonly HashSet<string> _loggedRefusals = [];

    /// <summary>
    /// Runs <paramref name="task"/> in <paramref name="phase"/> of the node's coordinated shutdown (SIGTERM). Nothing
    /// is added once shutdown is under way: there is then nothing left for the task to do.
    /// </summary>
    protected void OnShutdown(string phase, string name, Func<Task> task)
    {
        try
        {
            CoordinatedShutdown.Get(Context.System).AddTask(phase, name, async () =>
            {
                await task();
                return Done.Instance;
            });
        }
        catch (InvalidOperationException)
        {
            // shutdown already under way
        }
    }
}
