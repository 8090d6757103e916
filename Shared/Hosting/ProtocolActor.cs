using Akka;
using Akka.Actor;
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
    /// Reassembles chunks and fetches offers of the run <paramref name="expectedRunId"/> names (null: any run's).
    /// Call it where the behaviour registers its handlers: a reassembled message is then filtered like any other.
    /// </summary>
    protected void ReceiveTransfers(Func<string?> expectedRunId)
    {
        Receive<MessageChunk>(chunk =>
        {
            if (_assembler.Add(chunk, Sender, expectedRunId()) is { } whole) Self.Tell(whole, Sender);
        });
        Receive<BlobOffer>(offer => Delivery.Fetch(offer, Self, Sender, expectedRunId()));
    }

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
