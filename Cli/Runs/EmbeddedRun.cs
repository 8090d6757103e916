using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using MtnnCluster.Cli.Output;
using MtnnCluster.Collectives;
using MtnnCluster.Coordinator;
using MtnnCluster.Hosting;
using MtnnCluster.Training;
using MtnnCluster.Worker;

namespace MtnnCluster.Cli.Runs;

/// <summary>How many in-process workers, on what device, whether to verify message serialization, and the health endpoint's port (none: null).
/// <see cref="HttpHost"/>: where the health endpoint listens; <see cref="StatusDetail"/>: /status with paths and addresses;
/// <see cref="KeepTrainingCheckpoints"/>: false removes them once the finished run's model is written.</summary>
public sealed record EmbeddedOptions(int Workers, string Device, bool VerifySerialization = false, string LogLevel = "WARNING", int? HealthPort = null,
    string HttpHost = HttpBinding.Loopback, bool StatusDetail = false, bool KeepTrainingCheckpoints = true);

/// <summary>
/// The single-process run: the same coordinator and worker actors as on a cluster, in one actor system. Not a
/// second trainer: only the wiring differs.
/// </summary>
public static class EmbeddedRun
{
    public static async Task<RunOutcome> RunAsync(TrainJob job, EmbeddedOptions options, RunCompletion completion, CancellationToken cancel = default)
    {
        if (options.Workers < 1) throw new ArgumentException($"--workers must be ≥ 1 (got {options.Workers})");
        job.Spec.Validate();
        var workers = Enumerable.Range(0, options.Workers)
            .Select(i => new WorkerOptions($"local-{i}", options.Device, 1)).ToArray();
        var verbose = options.LogLevel is "INFO" or "DEBUG";
        using var log = new RunLog(job.OutDirectory, completion.Info, verbose);
        var watch = new RunWatch(completion, job.OutDirectory, job.Spec, message => completion.Info($"warning: {message}"), log);
        var outcome = await AkkaNode.RunAsync(akka =>
            {
                akka.AddMtnnBasics(options.VerifySerialization, RunLog.Level(verbose))
                    .WithCoordinator(job, watch)
                    .WithWorkers(workers, (_, registry) => registry.Get<CoordinatorActor>(), new InProcessGroups());
                RunLog.Configure(akka);
            },
            async host =>
            {
                var system = host.Services.GetRequiredService<ActorSystem>();
                await using var health = options.HealthPort is { } port
                    ? HealthEndpoint.Start(port, () => ClusterProbes.Liveness(system), () => ClusterProbes.Standalone(system, "train"),
                        () => ClusterProbes.Run(watch.Summary, options.StatusDetail), options.HttpHost)
                    : null;
                try
                {
                    return await completion.Outcome.WaitAsync(cancel);
                }
                finally
                {
                    log.End(); // the actor system stopping is no news for the terminal
                }
            });
        RunWriter.Write(job.OutDirectory, outcome, message => completion.Info($"warning: {message}"), removeTrainingCheckpoints: !options.KeepTrainingCheckpoints);
        return outcome;
    }
}
