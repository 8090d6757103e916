using System.CommandLine;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MtnnCluster.Collectives;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Output;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Hosting;
using MtnnCluster.Training;
using MtnnCluster.Worker;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>mtnn coordinator</c> and <c>mtnn worker</c>: the same actors as <c>train</c>, each in a cluster node of its
/// own. The coordinator is a cluster singleton on the coordinator-role node; workers reach it through a proxy.
/// </summary>
public static class ClusterCommands
{
    internal static readonly ClusterSingletonOptions Singleton = new() { Role = ClusterNodeOptions.CoordinatorRole };

    private static Option<string> DataPlaneOption() => new("--data-plane")
    {
        Description = "on: large messages (trunks, gradients, heads) travel on a TCP stream beside Akka; off: in 64 KiB chunks through Akka",
        DefaultValueFactory = _ => "on",
    };

    private static Option<int> DataPlanePortOption() => new("--data-plane-port")
    {
        Description = $"the data plane's port (0: any free one, on first use); a fixed one listens from the start, for a network policy to admit (the Kubernetes manifests use {NodeDefaults.DataPlanePort})",
        DefaultValueFactory = _ => 0,
    };

    private static int DataPlanePort(ParseResult parse, Option<int> option) =>
        parse.GetValue(option) is >= 0 and <= 65535 and var port ? port : throw new ArgumentException($"--data-plane-port must be 0–65535 (got {parse.GetValue(option)})");

    /// <summary>The data plane's sockets are plain TCP: with TLS on, large messages stay inside Akka's TLS connections.</summary>
    private static bool DataPlaneOn(ParseResult parse, Option<string> option, TlsSettings? tls) => parse.GetValue(option)!.ToLowerInvariant() switch
    {
        "on" => tls is null,
        "off" => false,
        var other => throw new ArgumentException($"--data-plane must be on or off (got '{other}')"),
    };

    public static Command Coordinator()
    {
        var options = new TrainOptions();
        var bind = new Option<string>("--bind") { Description = "HOST:PORT this node listens on", DefaultValueFactory = _ => $"127.0.0.1:{NodeDefaults.RemotingPort}" };
        var publicHost = new Option<string?>("--public-host") { Description = "host name other nodes reach this one by (default: the bind host)" };
        // --seed is the training seed here (a train option), so the coordinator names its seed nodes --seed-node
        var seeds = new Option<string[]>("--seed-node") { Description = $"seed node HOST:PORT (repeatable; default: ${ClusterNodeOptions.SeedsVariable}, else this node)" };
        var minWorkers = new Option<int>("--min-workers") { Description = "workers to wait for before training", DefaultValueFactory = _ => 1 };
        var workerWait = new Option<string>("--worker-wait")
        {
            Description = "how long the coordinator waits with no worker reachable (at the start, or after losing them all) before it exits 1; "
                          + "seconds, or with a unit: 90s, 10m, 1h; 0: forever",
            DefaultValueFactory = _ => "10m",
        };
        var verbose = new Option<bool>("--verbose") { Description = "log the actor system's info messages" };
        var startWith = new Option<int>("--start-with") { Description = "with --seeds or --ensemble: workers to wait for before the first run starts", DefaultValueFactory = _ => 1 };
        var tlsOptions = new TlsOptions();
        var endpoints = new EndpointOptions();
        var dataPlane = DataPlaneOption();
        var dataPlanePort = DataPlanePortOption();
        var command = new Command("coordinator", "run the coordinator of a multi-node training run (--seeds, --ensemble: a group of runs at once on different workers)");
        options.AddTo(command);
        command.Options.Add(options.Seeds);
        command.Options.Add(options.EnsembleSize);
        command.Options.Add(startWith);
        tlsOptions.AddTo(command);
        foreach (var option in new Option[] { bind, publicHost, seeds, minWorkers, workerWait, dataPlane, dataPlanePort, verbose }.Concat(endpoints.All)) command.Options.Add(option);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
            var completion = RunCompletion.ForConsole();
            var wait = WorkerWait(parse.GetValue(workerWait)!);
            ClusterNodeOptions Node()
            {
                var (host, port) = ClusterNodeOptions.ParseEndpoint(parse.GetValue(bind)!, "--bind");
                var self = $"{parse.GetValue(publicHost) ?? host}:{port}";
                var seedList = ClusterNodeOptions.ResolveSeeds(parse.GetValue(seeds), Environment.GetEnvironmentVariable(ClusterNodeOptions.SeedsVariable), self);
                var tls = tlsOptions.Resolve(parse);
                return new ClusterNodeOptions(host, port, parse.GetValue(publicHost), seedList, ClusterNodeOptions.CoordinatorRole, tls, DataPlaneOn(parse, dataPlane, tls),
                    DataPlanePort: DataPlanePort(parse, dataPlanePort));
            }
            if (options.Group(parse) is { } group)
            {
                // each run of the group is a job that waits for --min-workers workers of its own
                var perJob = parse.GetValue(minWorkers);
                if (perJob < 1) throw new ArgumentException($"--min-workers must be ≥ 1 (got {perJob})");
                if (parse.GetValue(startWith) < 1) throw new ArgumentException($"--start-with must be ≥ 1 (got {parse.GetValue(startWith)})");
                if (parse.GetResult(workerWait) is { Implicit: false })
                    throw new ArgumentException("--worker-wait is not taken with --seeds or --ensemble: each run waits for its own workers");
                var groupNode = Node();
                var groupHealth = endpoints.Health(parse);
                var groupHttp = endpoints.HttpHost(parse, groupNode.BindHost);
                using var groupTelemetry = endpoints.StartTelemetry(parse, ClusterNodeOptions.CoordinatorRole, groupHttp);
                completion.Info($"coordinator of {group.Counted}, {perJob} worker(s) each: workers join {groupNode.BindHost}:{groupNode.BindPort}{TlsNote(groupNode.Tls)}");
                await TrainCommand.TrainGroup(options, parse, group, "cpu", perJob, (id, jobs, current) =>
                {
                    var feed = new JobFeed(jobs, closed: true);
                    return RunCoordinatorNode<JobsActor, bool>(groupNode, Props.Create(() => new JobsActor(id, feed, parse.GetValue(startWith))),
                        UntilReleased(feed), cancel, groupHealth, _ => ClusterProbes.Run(current()?.Summary, endpoints.Detail(parse)), groupHttp, parse.GetValue(verbose)); // /status: the first run not yet over
                }, parse.GetValue(verbose));
                return ExitCodes.Done;
            }
            using var runLock = options.OutPath(parse) is { } outPath ? RunLock.Acquire(outPath, "mtnn coordinator", completion.Info) : null;
            var run = options.Resolve(parse, NewRunId, w => completion.Info($"warning: {w}"));
            if (run.AlreadyFinished)
            {
                completion.Info($"run {run.RunId} in {run.OutDirectory} has already finished (metrics.json); nothing to do");
                return 0;
            }
            var workers = parse.GetValue(minWorkers);
            if (workers < 1) throw new ArgumentException($"--min-workers must be ≥ 1 (got {workers})");
            var node = Node();
            var (host, port, tls) = (node.BindHost, node.BindPort, node.Tls);
            var outDirectory = run.OutDirectory;
            var job = run.ToJob(workers);
            var healthPort = endpoints.Health(parse);
            var httpHost = endpoints.HttpHost(parse, host);
            using var telemetry = endpoints.StartTelemetry(parse, ClusterNodeOptions.CoordinatorRole, httpHost);
            completion.Info($"coordinator listening on {host}:{port}{TlsNote(tls)}; waiting for {workers} worker(s)");
            using var log = new RunLog(outDirectory, completion.Info, parse.GetValue(verbose));
            var watch = new RunWatch(completion, outDirectory, job.Spec, message => completion.Info($"warning: {message}"), log);
            var outcome = await RunNode(node, healthPort, _ => ClusterProbes.Run(watch.Summary, endpoints.Detail(parse)), parse.GetValue(verbose), akka => akka.WithSingleton<CoordinatorActor>("coordinator",
                Props.Create(() => new CoordinatorActor(job, watch)).WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher), Singleton, false),
                host => UntilRunEnds(host, completion, new WorkerAbsence(wait), cancel), httpHost, log);
            RunWriter.Write(outDirectory, outcome, message => completion.Info($"warning: {message}"), removeTrainingCheckpoints: !TrainCommand.KeepsCheckpoints(options, parse));
            TrainCommand.PrintSummary(outcome, outDirectory);
            return ExitCodes.Done;
        }));
        return command;
    }

    public static Command Worker()
    {
        var bind = new Option<string>("--bind") { Description = "HOST:PORT this node listens on (port 0: any free port)", DefaultValueFactory = _ => "127.0.0.1:0" };
        var publicHost = new Option<string?>("--public-host") { Description = "host name other nodes reach this one by (default: the bind host)" };
        var seeds = new Option<string[]>("--seed", "--seed-node") { Description = $"seed node HOST:PORT, usually the coordinator (repeatable; default: ${ClusterNodeOptions.SeedsVariable})" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var exchangePort = new Option<int>("--exchange-port") { Description = "port of the workers' own exchange (embeddings, trunk gradients; 0: any free port)", DefaultValueFactory = _ => 0 };
        var slots = new Option<int>("--slots") { Description = "capacity relative to other workers (tasks are balanced per slot)", DefaultValueFactory = _ => 1 };
        var sameHostMemory = new Option<bool>("--same-host-memory")
        {
            Description = "reduce trunk gradients through shared memory (/dev/shm) when every worker of a run is on this host; false: always TCP",
            DefaultValueFactory = _ => true,
        };
        var id = new Option<string?>("--id") { Description = "worker id (default: host name and process id)" };
        var dataRoot = new Option<string?>("--data-root")
        {
            Description = "the only directory this worker reads data under (links followed); a run naming a file elsewhere fails on this worker. "
                          + "Default: the directory of the first run's data, as this worker sees it",
        };
        var verbose = new Option<bool>("--verbose") { Description = "log the actor system's info messages" };
        var tlsOptions = new TlsOptions();
        var endpoints = new EndpointOptions();
        var dataPlane = DataPlaneOption();
        var dataPlanePort = DataPlanePortOption();
        var command = new Command("worker", "join a cluster and train the tasks the coordinator assigns")
            { bind, publicHost, seeds, device, slots, id, dataRoot, exchangePort, sameHostMemory, dataPlane, dataPlanePort, verbose };
        foreach (var option in endpoints.All.Where(o => o != endpoints.StatusDetail)) command.Options.Add(option); // a worker's /status has no run summary
        tlsOptions.AddTo(command);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
            if (parse.GetValue(slots) < 1) throw new ArgumentException($"--slots must be ≥ 1 (got {parse.GetValue(slots)})");
            DeviceName.Parse(parse.GetValue(device)!);
            var (host, port) = ClusterNodeOptions.ParseEndpoint(parse.GetValue(bind)!, "--bind");
            var worker = new WorkerOptions(ClusterNodeOptions.ValidateWorkerId(parse.GetValue(id) ?? $"{Environment.MachineName}-{Environment.ProcessId}"),
                parse.GetValue(device)!, parse.GetValue(slots), ExitAfterRun: true, DataRoot: parse.GetValue(dataRoot) is { } root ? RequireDirectory(root) : null);
            var seedList = ClusterNodeOptions.ResolveSeeds(parse.GetValue(seeds), Environment.GetEnvironmentVariable(ClusterNodeOptions.SeedsVariable), null);
            var tls = tlsOptions.Resolve(parse);
            var node = new ClusterNodeOptions(host, port, parse.GetValue(publicHost), seedList, ClusterNodeOptions.WorkerRole, tls, DataPlaneOn(parse, dataPlane, tls),
                worker.WorkerId, DataPlanePort(parse, dataPlanePort));
            var healthPort = endpoints.Health(parse);
            var httpHost = endpoints.HttpHost(parse, host);
            using var telemetry = endpoints.StartTelemetry(parse, ClusterNodeOptions.WorkerRole, httpHost);
            Console.WriteLine($"worker {worker.WorkerId} ({worker.Device}, {worker.Slots} slot(s)) joining {string.Join(", ", node.Seeds)}{TlsNote(tls)}");
            // the workers' own exchange (embeddings, trunk gradients) listens beside remoting, TLS when remoting is
            using var groups = new TcpProcessGroups(host, parse.GetValue(publicHost) ?? host, parse.GetValue(exchangePort), tls, sameHostMemory: parse.GetValue(sameHostMemory));
            var (joined, reason) = await RunNode(node, healthPort, ClusterProbes.Worker, parse.GetValue(verbose), httpHost: httpHost, actors: akka => akka
                    .WithSingletonProxy<CoordinatorActor>("coordinator", Singleton)
                    .WithWorkers([worker], (_, registry) => registry.Get<CoordinatorActor>(), groups)
                    .WithActors((system, _) => system.ActorOf(Props.Create(() => new DuplicateIdWatch(worker.WorkerId)), "duplicate-id-watch")),
                until: async host =>
                {
                    var joined = 0;
                    var system = host.Services.GetRequiredService<ActorSystem>();
                    Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => Volatile.Write(ref joined, 1));
                    await host.WaitForShutdownAsync(cancel); // the worker's node shuts down when its run ends
                    return (Volatile.Read(ref joined) == 1, CoordinatedShutdown.Get(system).ShutdownReason);
                });
            if (cancel.IsCancellationRequested)
            {
                Console.Error.WriteLine($"worker {worker.WorkerId}: stopped by a signal; node left the cluster");
                return ExitCodes.Interrupted;
            }
            if (reason is RunEndedReason)
            {
                Console.WriteLine($"worker {worker.WorkerId}: run over, node left the cluster");
                return ExitCodes.Done;
            }
            // refused (TLS, another cluster), no seed answered, downed or evicted: a failure, so that an orchestrator restarts it
            Console.Error.WriteLine(joined
                ? $"worker {worker.WorkerId}: {NodeStop.Describe(reason)}; exit {ExitCodes.Failed}"
                : $"worker {worker.WorkerId}: its node stopped without ever joining the cluster at {string.Join(", ", node.Seeds)}");
            return ExitCodes.Failed;
        }));
        return command;
    }

    /// <summary>
    /// The node of a coordinator other than training's (<c>add-tasks --bind</c>): the cluster's only seed, which
    /// workers join with <c>--seed</c> as they join a training coordinator.
    /// </summary>
    internal static ClusterNodeOptions CoordinatorNode(string bind, string? publicHost, TlsSettings? tls)
    {
        var (host, port) = ClusterNodeOptions.ParseEndpoint(bind, "--bind");
        return new ClusterNodeOptions(host, port, publicHost, ClusterNodeOptions.ResolveSeeds(null, null, $"{publicHost ?? host}:{port}"),
            ClusterNodeOptions.CoordinatorRole, tls, DataPlane: tls is null);
    }

    /// <summary>
    /// Completes when every job of <paramref name="feed"/> has ended (failures are the jobs' own) and its workers were
    /// told to leave, with a moment for that message to go out before the node stops.
    /// </summary>
    internal static async Task<bool> UntilReleased(JobFeed feed)
    {
        await feed.Released;
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        return true;
    }

    /// <summary>
    /// Runs <paramref name="node"/> with <paramref name="coordinator"/> as the cluster's coordinator (the singleton the
    /// workers' proxies find, whatever it coordinates) until <paramref name="result"/> is known; the node stopping
    /// first is an error.
    /// </summary>
    internal static Task<T> RunCoordinatorNode<TCoordinator, T>(ClusterNodeOptions node, Props coordinator, Task<T> result, CancellationToken cancel,
        int? healthPort = null, Func<ActorSystem, ProbeResult>? status = null, string? httpHost = null, bool verbose = false) where TCoordinator : ActorBase
    {
        Console.Error.WriteLine($"coordinator listening on {node.BindHost}:{node.BindPort}{TlsNote(node.Tls)}");
        return RunNode(node, healthPort, status ?? ClusterProbes.Worker, verbose, httpHost: httpHost ?? node.BindHost, actors:
            akka => akka.WithSingleton<TCoordinator>("coordinator", coordinator.WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher), Singleton, false), until: async host =>
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            if (await Task.WhenAny(result, system.WhenTerminated).WaitAsync(cancel) != result)
                throw new NodeStoppedException($"coordinator: {NodeStop.Describe(CoordinatedShutdown.Get(system).ShutdownReason)} before the job ended");
            return await result;
        });
    }

    /// <summary>
    /// Runs a cluster node until <paramref name="until"/> completes, serving health probes and <paramref name="status"/>
    /// meanwhile when asked to, on <paramref name="httpHost"/> (null: the node's bind host).
    /// </summary>
    /// <paramref name="log"/>: where the actor system's log goes (null: the terminal alone, filtered as a worker's).
    private static async Task<T> RunNode<T>(ClusterNodeOptions node, int? healthPort, Func<ActorSystem, ProbeResult> status, bool verbose, Action<AkkaConfigurationBuilder> actors,
        Func<IHost, Task<T>> until, string? httpHost = null, RunLog? log = null)
    {
        // a group's coordinator node logs where the group does (its runs' watches summarise from that log)
        using var own = log is null && RunLog.Active is null ? new RunLog(null, Console.Error.WriteLine, verbose) : null;
        var used = log ?? RunLog.Active ?? own!;
        return await AkkaNode.RunAsync(akka =>
        {
            akka.AddMtnnBasics(logLevel: RunLog.Level(verbose)).WithMtnnCluster(node);
            RunLog.Configure(akka);
            actors(akka);
        }, async host =>
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            await using var health = healthPort is { } port ? HealthEndpoint.ForClusterNode(port, system, node.Role, () => status(system), httpHost ?? node.BindHost) : null;
            try
            {
                return await until(host);
            }
            finally
            {
                used.End(); // peers leaving, the singleton handing over: the end of a healthy run says nothing
            }
        });
    }

    /// <summary>
    /// The coordinator's run, until it ends, or until the node stops under it (downed, removed: the run cannot go on
    /// here) or no worker has been reachable for the <paramref name="absence"/> limit: both exit 1, and on the way
    /// out the latest snapshot is written, so that a restarted coordinator with <c>--resume auto</c> continues.
    /// </summary>
    private static async Task<RunOutcome> UntilRunEnds(IHost host, RunCompletion completion, WorkerAbsence absence, CancellationToken cancel)
    {
        var system = host.Services.GetRequiredService<ActorSystem>();
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var noWorkers = absence.WaitAsync(Akka.Cluster.Cluster.Get(system), stopWatching.Token);
        var first = await Task.WhenAny(completion.Outcome, system.WhenTerminated, noWorkers).WaitAsync(cancel);
        await stopWatching.CancelAsync();
        if (first == completion.Outcome) return await completion.Outcome;
        if (first == noWorkers && await noWorkers)
            throw new NodeStoppedException($"coordinator: no worker reachable for {absence.Limit.TotalSeconds:0} s (--worker-wait); giving up, the latest snapshot is " +
                                           "written on the way out (--resume auto continues the run)");
        throw new NodeStoppedException($"coordinator: {NodeStop.Describe(CoordinatedShutdown.Get(system).ShutdownReason)} before the run ended");
    }

    /// <summary>Parses --worker-wait: seconds, or a number with s, m or h.</summary>
    public static TimeSpan WorkerWait(string text)
    {
        var trimmed = text.Trim().ToLowerInvariant();
        var (number, unit) = trimmed.Length > 0 && char.IsLetter(trimmed[^1]) ? (trimmed[..^1], trimmed[^1]) : (trimmed, 's');
        var seconds = unit switch { 's' => 1, 'm' => 60, 'h' => 3600, _ => 0 };
        if (seconds == 0 || !double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || value < 0 || !double.IsFinite(value))
            throw new ArgumentException($"--worker-wait: '{text}' is not a duration (seconds, or a number with s, m or h; 0: forever)");
        return TimeSpan.FromSeconds(value * seconds);
    }

    private static string RequireDirectory(string root) =>
        Directory.Exists(root) ? Path.GetFullPath(root) : throw new ArgumentException($"--data-root: {root} is not a directory");

    private static string TlsNote(TlsSettings? tls) => tls is null ? "" : $" with mutual TLS (CA {tls.CaPath})";

    public static string NewRunId() => $"run-{DateTime.UtcNow:yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";
}
