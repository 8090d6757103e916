using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace MtnnCluster.Hosting;

/// <summary>
/// Where a node listens, whom it joins, what it is, and (when <see cref="Tls"/> is set) how it proves who it is.
/// <see cref="DataPlane"/>: large messages travel on the TCP data plane (listening on <see cref="BindHost"/>, any
/// free port); off, they go through Akka in 64 KiB chunks (inside TLS when it is on).
/// </summary>
public sealed record ClusterNodeOptions(string BindHost, int BindPort, string? PublicHost, IReadOnlyList<string> Seeds, string Role, TlsSettings? Tls = null, bool DataPlane = true)
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

    /// <summary>
    /// A seed as Akka names it: akka.tcp://, or akka.ssl.tcp:// with TLS. Accepts HOST:PORT or a full address, which
    /// must then use the node's own scheme (a plain seed for a TLS node, or the reverse, could never be joined).
    /// </summary>
    public static string SeedAddress(string seed, bool tls = false)
    {
        var scheme = tls ? "akka.ssl.tcp" : "akka.tcp";
        if (seed.Contains("://", StringComparison.Ordinal))
            return seed.StartsWith($"{scheme}://", StringComparison.Ordinal)
                ? seed
                : throw new ArgumentException($"--seed: '{seed}' is not a {scheme}:// address{(tls ? " (TLS is on)" : " (TLS is off)")}");
        var (host, port) = ParseEndpoint(seed, "--seed");
        return $"{scheme}://{SystemName}@{host}:{port}";
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
        var remoting = new RemoteOptions
        {
            HostName = node.BindHost,
            Port = node.BindPort,
            PublicHostName = node.PublicHost ?? node.BindHost,
        };
        if (node.Tls is { } tls)
        {
            remoting.EnableSsl = true;
            remoting.Ssl = MutualTls(tls);
        }
        builder.WithRemoting(remoting);
        builder.WithClustering(new ClusterOptions
        {
            Roles = [node.Role],
            SeedNodes = node.Seeds.Select(seed => ClusterNodeOptions.SeedAddress(seed, node.Tls is not null)).ToArray(),
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

    /// <summary>
    /// Both sides present a certificate, and each accepts the other only if it chains to the cluster CA. The
    /// certificate goes in as an object (not a path): only then does Akka 1.5.74 honour the custom validator.
    /// </summary>
    private static SslOptions MutualTls(TlsSettings tls)
    {
        var authorities = tls.LoadAuthorities();
        return new SslOptions
        {
            X509Certificate = tls.LoadCertificate(),
            RequireMutualAuthentication = true,
            ValidateCertificateHostname = false,
            CustomValidator = (certificate, _, peer, errors, log) =>
            {
                var reason = "";
                if (TlsSettings.OnlyChainErrors(errors) && TlsSettings.ChainsTo(certificate, authorities, out reason)) return true;
                log.Warning("TLS: refused {0}: {1}", peer, reason is { Length: > 0 } ? reason : errors.ToString());
                return false;
            },
        };
    }
}
