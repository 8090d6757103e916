using Akka.Hosting;
using MtnnCluster.Cli.Output;
using MtnnCluster.Coordinator;
using MtnnCluster.Hosting;
using MtnnCluster.Training;
using MtnnCluster.Worker;

namespace MtnnCluster.Cli.Runs;

/// <summary>How many in-process workers, on what device, and whether to verify message serialization.</summary>
public sealed record EmbeddedOptions(int Workers, string Device, bool VerifySerialization = false, string LogLevel = "WARNING");

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
        var outcome = await AkkaNode.RunAsync(akka => akka
                .AddMtnnBasics(options.VerifySerialization, options.LogLevel)
                .WithCoordinator(job, completion)
                .WithWorkers(workers, (_, registry) => registry.Get<CoordinatorActor>()),
            _ => completion.Outcome.WaitAsync(cancel));
        RunWriter.Write(job.OutDirectory, outcome);
        return outcome;
    }
}
