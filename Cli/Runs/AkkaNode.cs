using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MtnnCluster.Hosting;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// Hosts one MtnnCluster actor system (the one readable place where it is assembled is the caller's
/// <c>configure</c>), runs until <c>until</c> completes, then stops it (CoordinatedShutdown: a cluster node leaves).
/// </summary>
public static class AkkaNode
{
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
