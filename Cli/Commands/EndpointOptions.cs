using System.CommandLine;
using MtnnCluster.Hosting;
using MtnnCluster.Telemetry;

namespace MtnnCluster.Cli.Commands;

/// <summary>The HTTP endpoints a process may serve for its operators: Prometheus metrics and health probes.</summary>
public sealed class EndpointOptions
{
    public Option<int?> MetricsPort { get; } = new("--metrics-port")
    {
        Description = $"serve Prometheus metrics on every interface at :PORT{TelemetryExport.ScrapePath} (the Kubernetes manifests use {NodeDefaults.MetricsPort}); " +
                      $"OTLP export is on when {TelemetryExport.OtlpEndpointVariable} is set",
    };

    public Option<int?> HealthPort { get; } = new("--health-port")
    {
        Description = $"serve GET {HealthEndpoint.LivenessPath}, {HealthEndpoint.ReadinessPath} and {HealthEndpoint.StatusPath} (JSON, read-only) on every interface at :PORT " +
                      $"(the Kubernetes manifests use {NodeDefaults.HealthPort})",
    };

    /// <summary>Starts metrics export for a process of <paramref name="role"/> (train, coordinator or worker).</summary>
    public TelemetryExport StartTelemetry(ParseResult parse, string role) =>
        TelemetryExport.Start(parse.GetValue(MetricsPort), role, Environment.GetEnvironmentVariable(TelemetryExport.OtlpEndpointVariable));

    public int? Health(ParseResult parse) => parse.GetValue(HealthPort) switch
    {
        null => null,
        >= 1 and <= 65535 and var port => port,
        var port => throw new ArgumentException($"--health-port must be 1–65535 (got {port})"),
    };
}
