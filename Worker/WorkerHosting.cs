using Akka.Actor;
using Akka.Hosting;
using MtnnCluster.Collectives;
using MtnnCluster.Hosting;

namespace MtnnCluster.Worker;

/// <summary>Marker for the registry: the worker actors of this process.</summary>
public sealed class WorkerActorKey;

public static class WorkerHosting
{
    /// <summary>
    /// Starts <paramref name="workers"/> worker actors in this process, each on its own thread, registering with the
    /// coordinator that <paramref name="coordinator"/> resolves (the local actor, or a cluster singleton proxy), and
    /// exchanging with each other through the groups <paramref name="groups"/> makes (in memory in one process, TCP
    /// between processes).
    /// </summary>
    public static AkkaConfigurationBuilder WithWorkers(this AkkaConfigurationBuilder builder, IReadOnlyList<WorkerOptions> workers,
        Func<ActorSystem, IActorRegistry, IActorRef> coordinator, IProcessGroupFactory groups) =>
        builder.WithActors((system, registry) =>
        {
            var target = coordinator(system, registry);
            foreach (var options in workers)
                system.ActorOf(Props.Create(() => new WorkerActor(options, target, groups)).WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher),
                    $"worker-{options.WorkerId}");
        });
}
