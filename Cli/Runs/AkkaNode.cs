using Akka.Actor;
using Akka.Hosting;
using MtnnCluster.Collectives;
using MtnnCluster.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MtnnCluster.Hosting;

namespace MtnnCluster.Cli.Runs;

/// <summary>In-process workers as <c>train</c> names them: local-0, local-1, … on one device, one slot each.</summary>
public static class LocalWorkers
{
    public static WorkerOptions[] Of(int count, string device) =>
        Enumerable.Range(0, count).Select(i => new WorkerOptions($"local-{i}", device, 1)).ToArray();
}

/// <summary>
/// Hosts one MtnnCluster actor system (the one readable place where it is assembled is the caller's
/// <c>configure</c>), runs until <c>until</c> completes, then stops it (CoordinatedShutdown: a cluster node leaves).
/// </summary>
public static class AkkaNode
{
    /// <summary>
    /// <paramref name="coordinator"/> (named as on a cluster) and <paramref name="workers"/> in one actor system, the
    /// workers exchanging in memory, until <paramref name="until"/> completes.
    /// </summary>
    public static Task<T> RunWithLocalWorkers<T>(Props coordinator, IReadOnlyList<WorkerOptions> workers, Func<IHost, Task<T>> until,
        bool verifySerialization = false, string logLevel = "WARNING", Action<AkkaConfigurationBuilder>? logging = null) =>
        RunAsync(akka =>
        {
            akka.AddMtnnBasics(verifySerialization, logLevel)
                .WithActors((system, registry) => registry.Register<LocalCoordinator>(
                    system.ActorOf(coordinator.WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher), "coordinator")))
                .WithWorkers(workers, (_, registry) => registry.Get<LocalCoordinator>(), new InProcessGroups());
            logging?.Invoke(akka);
        }, until);

    /// <summary>The registry's key for the coordinator of <see cref="RunWithLocalWorkers{T}"/>, whatever actor it is.</summary>
    private sealed class LocalCoordinator;

    public static async Task<T> RunAsync<T>(Action<AkkaConfigurationBuilder> configure, Func<IHost, Task<T>> until)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = NodeDefaults.ShutdownTimeout);
        builder.Services.AddAkka(ClusterNodeOptions.SystemName, configure);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            return await until(host);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
