namespace MtnnCluster.Hosting;

/// <summary>
/// Ports and timings of a MtnnCluster node that deployments rely on. The Kubernetes manifests use the same values
/// (Tests/Deploy/ManifestTests checks them against these constants).
/// </summary>
public static class NodeDefaults
{
    /// <summary>Akka remoting: the coordinator's default bind port, and every pod's in Kubernetes.</summary>
    public const int RemotingPort = 4053;

    /// <summary>
    /// The workers' own exchange (embeddings and trunk gradients among them, <c>--exchange-port</c>) in Kubernetes,
    /// where a network policy admits it; elsewhere a worker takes any free port (0) and announces it.
    /// </summary>
    public const int ExchangePort = 4055;

    /// <summary>
    /// The data plane (<c>--data-plane-port</c>: large messages beside Akka) in Kubernetes, where the network policy
    /// admits it between mtnn pods; elsewhere any free port (0).
    /// </summary>
    public const int DataPlanePort = 4056;

    /// <summary>The health endpoint (<c>--health-port</c>): /healthz and /readyz.</summary>
    public const int HealthPort = 8558;

    /// <summary>The Prometheus scrape endpoint (<c>--metrics-port</c>): /metrics.</summary>
    public const int MetricsPort = 9464;

    /// <summary>
    /// How long the host waits for a graceful stop (CoordinatedShutdown: leave the cluster, stop actors) once asked
    /// to stop. A pod's terminationGracePeriodSeconds must exceed it, or the kubelet kills a node mid-leave.
    /// </summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);
}
