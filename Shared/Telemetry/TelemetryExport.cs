using System.Net;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MtnnCluster.Telemetry;

/// <summary>
/// Where this process's telemetry goes: a Prometheus scrape endpoint on <c>--metrics-port</c> (GET /metrics on
/// the host <see cref="Hosting.HttpBinding"/> says), and an OTLP exporter for metrics and traces when <see cref="OtlpEndpointVariable"/> is set
/// (the exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself). Neither: nothing is collected.
/// </summary>
public sealed class TelemetryExport : IDisposable
{
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string ServiceNameVariable = "OTEL_SERVICE_NAME";
    public const string ScrapePath = "/metrics";

    /// <summary>Per-task series (mtnn.task.loss) a worker may export: above the SDK's default of 2000, for workers with thousands of tasks.</summary>
    public const int TaskSeriesLimit = 20_000;

    private readonly MeterProvider? _meters;
    private readonly TracerProvider? _tracer;

    private TelemetryExport(MeterProvider? meters, TracerProvider? tracer)
    {
        _meters = meters;
        _tracer = tracer;
    }

    /// <param name="metricsPort">Prometheus scrape port, or null for none.</param>
    /// <param name="role">train, coordinator or worker: a resource attribute of every series and span.</param>
    /// <param name="otlpEndpoint">The value of <see cref="OtlpEndpointVariable"/> (null or empty: no OTLP).</param>
    /// <param name="host">the host the scrape endpoint listens on (<see cref="Hosting.HttpBinding"/>; null: every interface)</param>
    public static TelemetryExport Start(int? metricsPort, string role, string? otlpEndpoint, string? host = null)
    {
        var otlp = !string.IsNullOrWhiteSpace(otlpEndpoint);
        if (metricsPort is null && !otlp) return new TelemetryExport(null, null);
        if (metricsPort is < 1 or > 65535) throw new ArgumentException($"--metrics-port must be 1–65535 (got {metricsPort})");

        void Describe(ResourceBuilder resource) => resource
            .AddService(Environment.GetEnvironmentVariable(ServiceNameVariable) ?? "mtnn", serviceInstanceId: $"{Environment.MachineName}-{Environment.ProcessId}")
            .AddAttributes([new("mtnn.role", role)]);

        var meters = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(Describe)
            .AddMeter(MtnnTelemetry.Name)
            .AddView("mtnn.task.loss", new MetricStreamConfiguration { CardinalityLimit = TaskSeriesLimit });
        if (metricsPort is { } port)
            meters.AddPrometheusHttpListener(o =>
            {
                o.Port = port;
                o.ScrapeEndpointPath = ScrapePath;
                // The options take a host name only (default localhost, which the listener matches against the
                // request's Host header); the prefix binds the host asked for, '*' only for every interface.
                o.ConfigureHttpListener = (_, listener) =>
                {
                    listener.Prefixes.Clear();
                    listener.Prefixes.Add(Hosting.HttpBinding.Prefix(host, port, $"{ScrapePath}/"));
                };
            });
        if (otlp) meters.AddOtlpExporter();
        MeterProvider meterProvider;
        try
        {
            meterProvider = meters.Build();
        }
        catch (Exception e) when (e is HttpListenerException || e.InnerException is HttpListenerException)
        {
            // the exporter wraps the listener's error (a port in use, say) in an InvalidOperationException
            throw new IOException($"--metrics-port {metricsPort}: cannot listen ({(e.InnerException ?? e).Message})", e);
        }
        var tracer = otlp
            ? Sdk.CreateTracerProviderBuilder().ConfigureResource(Describe).AddSource(MtnnTelemetry.Name).AddOtlpExporter().Build()
            : null;
        return new TelemetryExport(meterProvider, tracer);
    }

    /// <summary>Flushes OTLP and stops the scrape endpoint.</summary>
    public void Dispose()
    {
        _tracer?.Dispose();
        _meters?.Dispose();
    }
}
