using Akka.Actor;
using Akka.Hosting;
using MtnnCluster.Hosting;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator;

public static class CoordinatorHosting
{
    /// <summary>Starts the coordinator for <paramref name="job"/> in this process, on its own thread.</summary>
    public static AkkaConfigurationBuilder WithCoordinator(this AkkaConfigurationBuilder builder, TrainJob job, ITrainingObserver observer) =>
        builder.WithActors((system, registry) =>
        {
            var coordinator = system.ActorOf(Props.Create(() => new CoordinatorActor(job, observer))
                .WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher), "coordinator");
            registry.Register<CoordinatorActor>(coordinator);
        });
}
