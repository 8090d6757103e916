using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace MtnnCluster.Hosting;

/// <summary>
/// Where a node listens, whom it joins, and what it is. <see cref="DataPlane"/>: large messages travel on the TCP
/// data plane (listening on <see cref="BindHost"/>, any free port); off, they go through Akka in 64 KiB chunks.
/// </summary>
public sealed record ClusterNodeOptions(string BindHost, int BindPort, string? PublicHost, IReadOnlyList<string> Seeds, string Role, bool DataPlane = true)
{
    public const string SystemName = "mtnn";
    public const string CoordinatorRole = "coordinator";
    public const string WorkerRole = "worker";

    /// <summary>Parses HOST:PORT (port 0 = any free port).</summary>
    public static (string Host, int Port) ParseEndpoint(string text, string option)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 0 or > 65535)
            throw new ArgumentException($"{option}: '{text}' is not HOST:PORT");
        return (text[..colon], port);
    }

    /// <summary>Environment variable read for seed nodes when no --seed is given: comma-separated HOST:PORT.</summary>
    public const string SeedsVariable = "MTNN_SEEDS";

    /// <summary>Seeds from the command line, else from <see cref="SeedsVariable"/>, else the fallback (none: an error).</summary>
    public static string[] ResolveSeeds(IReadOnlyList<string>? given, string? environment, string? fallback)
    {
        if (given is { Count: > 0 }) return [.. given];
        var fromEnvironment = (environment ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fromEnvironment.Length > 0) return fromEnvironment;
        return fallback is not null ? [fallback] : throw new ArgumentException($"--seed: no seed node given (pass --seed HOST:PORT or set {SeedsVariable})");
    }

    /// <summary>A seed as Akka names it; accepts HOST:PORT or a full akka.tcp:// address.</summary>
    public static string SeedAddress(string seed)
    {
        if (seed.StartsWith("akka.tcp://", StringComparison.Ordinal)) return seed;
        var (host, port) = ParseEndpoint(seed, "--seed");
        return $"akka.tcp://{SystemName}@{host}:{port}";
    }
}

public static class ClusterNode
{
    /// <summary>
    /// Remoting and clustering for a MtnnCluster node. Split-brain resolver: keep-oldest with down-if-alone. The
    /// coordinator node is started first, so it is the oldest: a partition keeps the side that holds the
    /// coordinator (and the run), and a lone coordinator cut off from all workers downs itself rather than train
    /// on nothing. Timings from DESIGN.md: stable-after 5 s and down-removal-margin 3 s move a lost worker's
    /// state in ~11 s; the 3 s heartbeat pause stays (busy nodes were wrongly downed below it).
    /// </summary>
    public static AkkaConfigurationBuilder WithMtnnCluster(this AkkaConfigurationBuilder builder, ClusterNodeOptions node)
    {
        builder.WithRemoting(new RemoteOptions
        {
            HostName = node.BindHost,
            Port = node.BindPort,
            PublicHostName = node.PublicHost ?? node.BindHost,
        });
        builder.WithClustering(new ClusterOptions
        {
            Roles = [node.Role],
            SeedNodes = node.Seeds.Select(ClusterNodeOptions.SeedAddress).ToArray(),
            SplitBrainResolver = new KeepOldestOption { DownIfAlone = true },
        });
        builder.AddHocon($$"""
            mtnn.data-plane {
              enabled = {{(node.DataPlane ? "on" : "off")}}
              bind-host = "{{node.BindHost}}"
              public-host = "{{node.PublicHost ?? node.BindHost}}"
            }
            akka.cluster.split-brain-resolver.stable-after = 5s
            akka.cluster.down-removal-margin = 3s
            akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = 60s
            akka.coordinated-shutdown.exit-clr = off
            """, HoconAddMode.Prepend);
        return builder;
    }
}
