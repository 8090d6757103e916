using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace MtnnCluster.Hosting;

/// <summary>
/// Where a node listens, whom it joins, what it is, and (when <see cref="Tls"/> is set) how it proves who it is.
/// <see cref="DataPlane"/>: large messages travel on the TCP data plane (listening on <see cref="BindHost"/>, port
/// <see cref="DataPlanePort"/>, or any free port when 0: a fixed one is what a network policy can admit); off, they go
/// through Akka in 64 KiB chunks (inside TLS when it is on).
/// <see cref="WorkerId"/>: a worker's id, carried as a role (<see cref="IdRole"/>) so that an older node with the same id
/// sees the newer one join and leaves (see <see cref="DuplicateIdWatch"/>).
/// </summary>
public sealed record ClusterNodeOptions(string BindHost, int BindPort, string? PublicHost, IReadOnlyList<string> Seeds, string Role, TlsSettings? Tls = null, bool DataPlane = true,
    string? WorkerId = null, int DataPlanePort = 0)
{
    public const string SystemName = "mtnn";
    public const string CoordinatorRole = "coordinator";
    public const string WorkerRole = "worker";
    /// <summary>Dispatcher of Akka's own cluster and remoting actors: threads of their own, so heartbeats never queue behind data loading or compute on the thread pool.</summary>
    public const string MembershipDispatcher = "mtnn.membership-dispatcher";

    /// <summary>The role that names a worker's id.</summary>
    public static string IdRole(string workerId) => $"worker-id-{workerId}";

    /// <summary>
    /// Refuses a worker id that cannot name an actor, a role and a file: letters, digits, '.', '_' and '-', starting
    /// with a letter or digit, at most 100 characters.
    /// </summary>
    public static string ValidateWorkerId(string id) =>
        id.Length is > 0 and <= 100 && char.IsAsciiLetterOrDigit(id[0]) && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? id
            : throw new ArgumentException($"--id '{id}': a worker id is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit");

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
    /// Remoting and clustering for a MtnnCluster node. Split-brain resolver: keep-oldest among coordinator-role
    /// nodes, without down-if-alone. The run's state lives with the coordinator and on disk, and workers are
    /// replaceable, so the side that holds the coordinator always survives: a coordinator that loses every worker
    /// downs them and waits for new ones (down-if-alone would have it down itself, ending the run), and workers cut
    /// off from the coordinator (dead, frozen or partitioned) down themselves and exit 1, so that an orchestrator
    /// restarts them and they join again. Timings (Akka.NET's split-brain resolver guidance): stable-after 5 s and down-removal-margin 3 s move
    /// a lost worker's state in ~11 s; the 3 s heartbeat pause stays (busy nodes were wrongly downed below it).
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
            Roles = node.WorkerId is { } id ? [node.Role, ClusterNodeOptions.IdRole(id)] : [node.Role],
            SeedNodes = node.Seeds.Select(seed => ClusterNodeOptions.SeedAddress(seed, node.Tls is not null)).ToArray(),
            SplitBrainResolver = new KeepOldestOption { DownIfAlone = false, Role = ClusterNodeOptions.CoordinatorRole },
        });
        builder.AddHocon($$"""
            mtnn.data-plane {
              enabled = {{(node.DataPlane ? "on" : "off")}}
              bind-host = "{{node.BindHost}}"
              port = {{node.DataPlanePort}}
              public-host = "{{node.PublicHost ?? node.BindHost}}"
            }
            {{Serialization.RefusingSerializer.Hocon}}
            akka.cluster.split-brain-resolver.stable-after = 5s
            akka.cluster.down-removal-margin = 3s
            akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = 60s
            akka.coordinated-shutdown.exit-clr = off
            {{ClusterNodeOptions.MembershipDispatcher}} {
              type = ForkJoinDispatcher
              throughput = 30
              dedicated-thread-pool { thread-count = 2, threadtype = background }
            }
            akka.cluster.use-dispatcher = {{ClusterNodeOptions.MembershipDispatcher}}
            akka.remote.use-dispatcher = {{ClusterNodeOptions.MembershipDispatcher}}
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
                if (TlsSettings.AcceptsPeer(certificate, errors, authorities, out var reason)) return true;
                log.Warning("TLS: refused {0}: {1}", peer, reason);
                return false;
            },
        };
    }
}
