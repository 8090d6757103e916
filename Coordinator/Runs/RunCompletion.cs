using MtnnCluster.Telemetry;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator.Runs;

/// <summary>
/// Observes a run: prints progress (one line per epoch, fit for terminals and for log collectors alike), records
/// the epoch-level metrics (loss, validation score), and completes a task when the run ends.
/// </summary>
public sealed class RunCompletion(TextWriter output, bool quiet = false) : ITrainingObserver
{
    private readonly TaskCompletionSource<RunOutcome> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<RunOutcome> Outcome => _completion.Task;

    public void Info(string message)
    {
        if (!quiet) output.WriteLine(message);
    }

    public void EpochCompleted(EpochReport r)
    {
        MtnnTelemetry.EpochCompleted(r.Epoch, r.Phase, r.TrainLoss, r.ValidScore);
        if (quiet) return;
        output.WriteLine($"epoch {r.Epoch,3}/{r.Epochs} {r.Phase.ToString().ToLowerInvariant(),-6} loss {r.TrainLoss,8:F4}  " +
                         $"valid {r.ValidScore:F4}{(r.Improved ? " *" : "  ")}  {r.Seconds,6:F1} s  {r.RowsPerSecond,8:F0} rows/s");
    }

    public void Completed(RunOutcome outcome) => _completion.TrySetResult(outcome);

    public void Failed(Exception error) => _completion.TrySetException(error);
}
