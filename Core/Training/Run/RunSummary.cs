namespace MtnnCluster.Training.Run;

/// <summary>
/// A run's state in a few lines, as <c>/status</c> answers it (snake case): built from the latest
/// <see cref="RunStatus"/> by whoever watches the run. Scores that do not exist yet (no epoch done) are null.
/// </summary>
public sealed record RunSummary(
    string RunId, RunPhase Phase, int Epoch, int Epochs, int EpochsDone, int BestEpoch, double? BestScore, EpochSummary? LastEpoch,
    string? Dataset, int Rows, int Tasks, IReadOnlyList<WorkerSummary> Workers, IReadOnlyList<RunEvent> Events,
    DateTimeOffset Started, DateTimeOffset Updated)
{
    public static RunSummary Of(RunStatus status, DateTimeOffset started, DateTimeOffset updated)
    {
        var last = status.History.Count > 0 ? status.History[^1] : null;
        return new RunSummary(status.RunId, status.Phase, status.Epoch, status.Epochs, status.History.Count, status.BestEpoch,
            status.BestEpoch > 0 ? Finite(status.BestScore) : null,
            last is null ? null : new EpochSummary(last.Epoch, last.Phase, Finite(last.TrainLoss), Finite(last.ValidScore), Math.Round(last.Seconds, 3), Math.Round(last.RowsPerSecond, 1)),
            status.Data?.Path, status.Data?.RowCount ?? 0, status.Data?.TaskCount ?? 0,
            status.Workers.Select(w => new WorkerSummary(w.WorkerId, w.Address, w.Device, w.Slots, w.Tasks.Length)).ToArray(),
            status.Events, started, updated);
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}

/// <summary>The last epoch completed: its training loss per label, validation score, training seconds and throughput.</summary>
public sealed record EpochSummary(int Epoch, EpochPhase Phase, double? TrainLoss, double? ValidScore, double Seconds, double RowsPerSecond);

/// <summary>A worker of the current placement and how many tasks it trains.</summary>
public sealed record WorkerSummary(string Id, string Address, string Device, int Slots, int Tasks);
