using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using MtnnCluster.Coordinator;
using MtnnCluster.Hosting;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// The runs of a group (<c>--seeds</c>, <c>--ensemble</c>) as jobs of one <see cref="JobsActor"/>, in this process
/// with in-process workers: each job gets <see cref="TrainJob.MinWorkers"/> of them, so the runs go on at the same
/// time while there are workers for them, and one after another when there are not. Returns when every job has
/// ended (its outcome, or failure, is in its own observer) and the workers were let go.
/// </summary>
public static class GroupRun
{
    public static async Task RunInProcess(string groupId, IReadOnlyList<GroupJob> jobs, EmbeddedOptions options, Func<RunWatch?> current, CancellationToken cancel)
    {
        if (options.Workers < 1) throw new ArgumentException($"--workers must be ≥ 1 (got {options.Workers})");
        foreach (var job in jobs) job.Job.Spec.Validate();
        var feed = new JobFeed(jobs, closed: true);
        await AkkaNode.RunWithLocalWorkers(Props.Create(() => new JobsActor(groupId, feed, 1)), LocalWorkers.Of(options.Workers, options.Device), async host =>
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            await using var health = options.HealthPort is { } port
                ? HealthEndpoint.Start(port, () => ClusterProbes.Liveness(system), () => ClusterProbes.Standalone(system, "train"),
                    () => ClusterProbes.Run(current()?.Summary, options.StatusDetail), options.HttpHost)
                : null;
            await feed.Released.WaitAsync(cancel); // every job ended (failures are the jobs' own), the workers let go
            return true;
        }, options.VerifySerialization, RunLog.Level(options.LogLevel is "INFO" or "DEBUG"), RunLog.Configure);
    }
}
