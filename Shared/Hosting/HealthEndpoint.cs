using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Cluster;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Hosting;

/// <summary>What a probe answers: whether it passes, and a JSON body saying why.</summary>
public sealed record ProbeResult(bool Passes, object Body);

/// <summary>This node's view of the cluster, as /readyz reports it.</summary>
public sealed record MembershipReport(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("member_status")] string MemberStatus,
    [property: JsonPropertyName("joined")] bool Joined,
    [property: JsonPropertyName("members_up")] int MembersUp,
    [property: JsonPropertyName("workers_up")] int WorkersUp,
    [property: JsonPropertyName("coordinator_up")] bool CoordinatorUp,
    [property: JsonPropertyName("unreachable")] int Unreachable);

/// <summary>
/// Liveness and readiness of a cluster node. Live: the actor system runs. Ready: this node has joined the
/// cluster (its member status is Up); the report also counts the members that are up, per role.
/// </summary>
public static class ClusterProbes
{
    public static ProbeResult Liveness(ActorSystem system)
    {
        var alive = !system.WhenTerminated.IsCompleted;
        return new ProbeResult(alive, new Dictionary<string, string> { ["status"] = alive ? "alive" : "terminated" });
    }

    public static ProbeResult Readiness(ActorSystem system, string role)
    {
        if (system.WhenTerminated.IsCompleted)
            return new ProbeResult(false, new MembershipReport("terminated", "", role, "Removed", false, 0, 0, false, 0));
        var cluster = Akka.Cluster.Cluster.Get(system);
        var state = cluster.State;
        var up = state.Members.Where(m => m.Status == MemberStatus.Up).ToArray();
        var self = cluster.SelfMember;
        var joined = self.Status == MemberStatus.Up;
        var report = new MembershipReport(joined ? "ready" : "joining", cluster.SelfAddress.ToString(), role, self.Status.ToString(), joined,
            up.Length, up.Count(m => m.HasRole(ClusterNodeOptions.WorkerRole)), up.Any(m => m.HasRole(ClusterNodeOptions.CoordinatorRole)),
            state.Unreachable.Count);
        return new ProbeResult(joined, report);
    }

    /// <summary>A process without a cluster (<c>train</c>): ready as long as it is alive.</summary>
    public static ProbeResult Standalone(ActorSystem system, string role)
    {
        var alive = !system.WhenTerminated.IsCompleted;
        return new ProbeResult(alive, new Dictionary<string, string> { ["status"] = alive ? "ready" : "terminated", ["role"] = role });
    }

    /// <summary>
    /// /status where the run is coordinated: the latest summary, 503 until the coordinator has reported one. Without
    /// <paramref name="detail"/> (<c>--status-detail</c>) it says what an operator needs to watch the run and nothing
    /// that maps the cluster for someone else: the dataset's file name, not its path; worker ids without addresses;
    /// events without their free-text detail (a checkpoint error names directories).
    /// </summary>
    public static ProbeResult Run(RunSummary? summary, bool detail = false) =>
        summary is null ? new ProbeResult(false, new Dictionary<string, string> { ["status"] = "starting" })
        : new ProbeResult(true, detail ? summary : summary with
        {
            Dataset = summary.Dataset is { } path ? string.Join(", ", path.Split(", ").Select(Path.GetFileName)) : null,
            Workers = summary.Workers.Select(w => w with { Address = "" }).ToArray(),
            Events = summary.Events.Select(e => e with { Detail = null }).ToArray(),
        });

    /// <summary>/status of a worker: the run's summary is the coordinator's to give.</summary>
    public static ProbeResult Worker(ActorSystem system) => new(true, new Dictionary<string, string>
    {
        ["role"] = ClusterNodeOptions.WorkerRole,
        ["node"] = system.WhenTerminated.IsCompleted ? "" : Akka.Cluster.Cluster.Get(system).SelfAddress.ToString(),
        ["run"] = $"served by the coordinator's {HealthEndpoint.StatusPath}",
    });
}

/// <summary>
/// A read-only HTTP endpoint for orchestrators and people: GET /healthz (liveness), GET /readyz (readiness) and
/// GET /status (the run's summary), JSON, 200 when the probe passes and 503 when it does not. It listens where
/// <see cref="HttpBinding"/> says (the node's --bind host unless --http-bind names another; every interface only
/// when that host is 0.0.0.0) and answers nothing but these reads: any other method is 405, any other path 404.
/// </summary>
public sealed class HealthEndpoint : IAsyncDisposable
{
    public const string LivenessPath = "/healthz";
    public const string ReadinessPath = "/readyz";
    public const string StatusPath = "/status";

    // bodies in the snake case of metrics.json; an explicit [JsonPropertyName] wins
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private readonly HttpListener _listener;
    private readonly Func<ProbeResult> _liveness;
    private readonly Func<ProbeResult> _readiness;
    private readonly Func<ProbeResult> _status;
    private readonly Task _serving;

    private HealthEndpoint(HttpListener listener, Func<ProbeResult> liveness, Func<ProbeResult> readiness, Func<ProbeResult> status)
    {
        _listener = listener;
        _liveness = liveness;
        _readiness = readiness;
        _status = status;
        _serving = Task.Run(ServeAsync);
    }

    public static HealthEndpoint Start(int port, Func<ProbeResult> liveness, Func<ProbeResult> readiness, Func<ProbeResult> status, string? host = null)
    {
        var listener = new HttpListener();
        listener.Prefixes.Add(HttpBinding.Prefix(host, port, "/"));
        try
        {
            listener.Start();
        }
        catch (HttpListenerException e)
        {
            listener.Close();
            throw new IOException($"--health-port {port}: cannot listen ({e.Message})", e);
        }
        return new HealthEndpoint(listener, liveness, readiness, status);
    }

    /// <summary>The endpoint of a cluster node, with <see cref="ClusterProbes"/>; <paramref name="status"/> answers /status.</summary>
    public static HealthEndpoint ForClusterNode(int port, ActorSystem system, string role, Func<ProbeResult> status, string? host = null) =>
        Start(port, () => ClusterProbes.Liveness(system), () => ClusterProbes.Readiness(system, role), status, host);

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            Answer(context);
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            if (context.Request.HttpMethod != "GET")
            {
                response.AddHeader("Allow", "GET");
                Write(response, HttpStatusCode.MethodNotAllowed, new Dictionary<string, string> { ["error"] = "read-only endpoint: GET only" });
                return;
            }
            var probe = context.Request.Url?.AbsolutePath switch
            {
                LivenessPath => _liveness,
                ReadinessPath => _readiness,
                StatusPath => _status,
                _ => null,
            };
            if (probe is null)
            {
                Write(response, HttpStatusCode.NotFound, new Dictionary<string, string> { ["error"] = $"not found: try {LivenessPath}, {ReadinessPath} or {StatusPath}" });
                return;
            }
            var result = probe();
            Write(response, result.Passes ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, result.Body);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // the client went away mid-answer: nothing to tell it
        }
        finally
        {
            response.Close();
        }
    }

    private static void Write(HttpListenerResponse response, HttpStatusCode status, object body)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), Json);
        response.StatusCode = (int)status;
        response.ContentType = "application/json";
        response.AddHeader("Cache-Control", "no-store");
        response.ContentLength64 = bytes.Length;
        response.OutputStream.Write(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _serving;
    }
}
