using System.CommandLine;
using MtnnCluster.Hosting;
using MtnnCluster.Telemetry;

namespace MtnnCluster.Cli.Commands;

/// <summary>The HTTP endpoints a process may serve for its operators: Prometheus metrics and health probes.</summary>
public sealed class EndpointOptions
{
    public Option<int?> MetricsPort { get; } = new("--metrics-port")
    {
        Description = $"serve Prometheus metrics at HOST:PORT{TelemetryExport.ScrapePath}, HOST from --http-bind (the Kubernetes manifests use {NodeDefaults.MetricsPort}); " +
                      $"OTLP export is on when {TelemetryExport.OtlpEndpointVariable} is set",
    };

    public Option<int?> HealthPort { get; } = new("--health-port")
    {
        Description = $"serve GET {HealthEndpoint.LivenessPath}, {HealthEndpoint.ReadinessPath} and {HealthEndpoint.StatusPath} (JSON, read-only) at HOST:PORT, HOST from --http-bind " +
                      $"(the Kubernetes manifests use {NodeDefaults.HealthPort})",
    };

    public Option<string?> HttpBind { get; } = new("--http-bind")
    {
        Description = $"the host the health and metrics endpoints listen on (default: --bind's host; {HttpBinding.Loopback} for train); 0.0.0.0: every interface",
    };

    public Option<bool> StatusDetail { get; } = new("--status-detail")
    {
        Description = $"{HealthEndpoint.StatusPath} also shows the dataset's path, the workers' node addresses and the events' details (off: ids, phases and scores only)",
    };

    /// <summary>The options for a command whose nodes listen on <c>--bind</c>.</summary>
    public IEnumerable<Option> All => [MetricsPort, HealthPort, HttpBind, StatusDetail];

    /// <summary>The host the endpoints listen on: --http-bind, else <paramref name="bindHost"/> (--bind's), else 127.0.0.1.</summary>
    public string HttpHost(ParseResult parse, string? bindHost) => parse.GetValue(HttpBind) is { Length: > 0 } host ? host : bindHost ?? HttpBinding.Loopback;

    public bool Detail(ParseResult parse) => parse.GetValue(StatusDetail);

    /// <summary>Starts metrics export for a process of <paramref name="role"/> (train, coordinator or worker), listening on <paramref name="host"/>.</summary>
    public TelemetryExport StartTelemetry(ParseResult parse, string role, string host) =>
        TelemetryExport.Start(parse.GetValue(MetricsPort), role, Environment.GetEnvironmentVariable(TelemetryExport.OtlpEndpointVariable), host);

    public int? Health(ParseResult parse) => parse.GetValue(HealthPort) switch
    {
        null => null,
        >= 1 and <= 65535 and var port => port,
        var port => throw new ArgumentException($"--health-port must be 1–65535 (got {port})"),
    };
}
