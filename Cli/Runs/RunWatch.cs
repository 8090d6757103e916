using MtnnCluster.Cli.Output;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// Watches a run for the people waiting on it, in front of the command's observer (<paramref name="inner"/>, which
/// gets every call): keeps the latest <see cref="RunSummary"/> for <c>/status</c>, and rewrites <c>report.html</c>
/// in <paramref name="outDirectory"/> at every epoch end, with a banner saying the run is unfinished. The page is
/// rendered off the coordinator's thread, latest epoch first (a slow write skips epochs rather than queue them), and
/// the run's end is passed on only once no write is left, so the final report written after it is never overwritten.
/// A live report that cannot be written is a warning.
/// </summary>
public sealed class RunWatch(ITrainingObserver inner, string outDirectory, RunSpec spec, Action<string> warn, RunLog? log = null) : ITrainingObserver
{
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly object _gate = new();
    private RunSummary? _summary;
    private RunStatus? _latest, _pending;
    private int _reportedEpoch;
    private bool _writing, _closed, _warned;
    private Task _writer = Task.CompletedTask;

    /// <summary>The run's latest summary; null until the coordinator has reported. Read from any thread.</summary>
    public RunSummary? Summary => Volatile.Read(ref _summary);

    // the data line names the invalid SMILES once, with the file that lists them all (RunLog collected them)
    public void Info(string message) => inner.Info(log is null ? message : log.Summarise(message, outDirectory));

    public void EpochCompleted(EpochReport report) => inner.EpochCompleted(report);

    public void StepCompleted(StepProgress progress) => inner.StepCompleted(progress);

    public void StatusChanged(RunStatus status)
    {
        inner.StatusChanged(status);
        Volatile.Write(ref _summary, RunSummary.Of(status, _started, DateTimeOffset.UtcNow));
        lock (_gate)
        {
            _latest = status;
            // a resumed run shows its earlier epochs at once; a redeployment from the same snapshot adds nothing
            var last = status.History.Count > 0 ? status.History[^1].Epoch : 0;
            if (_closed || last == _reportedEpoch) return;
            _reportedEpoch = last;
            _pending = status;
            if (_writing) return;
            _writing = true;
            _writer = Task.Run(WriteLatest);
        }
    }

    public void Completed(RunOutcome outcome) => Close().ContinueWith(_ => inner.Completed(outcome), TaskScheduler.Default);

    public void Failed(Exception error) => Close().ContinueWith(_ =>
    {
        if (_latest is { History.Count: > 0 } last) TryWrite(last, error.Message);
        inner.Failed(error);
    }, TaskScheduler.Default);

    private Task Close()
    {
        lock (_gate)
        {
            _closed = true;
            return _writer;
        }
    }

    private void WriteLatest()
    {
        while (true)
        {
            RunStatus status;
            lock (_gate)
            {
                if (_pending is null || _closed)
                {
                    _writing = false;
                    return;
                }
                (status, _pending) = (_pending, null);
            }
            TryWrite(status, null);
        }
    }

    private void TryWrite(RunStatus status, string? failure)
    {
        try
        {
            var now = DateTimeOffset.UtcNow;
            Directory.CreateDirectory(outDirectory);
            ReportWriter.Write(outDirectory, RunMetrics.SoFar(status, spec, (now - _started).TotalSeconds),
                new Unfinished(status.History[^1].Epoch, status.Epochs, status.Data?.TaskCount ?? 0, now, failure));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // once: a full disk would otherwise say so at every epoch of an overnight run
            if (_warned) return;
            _warned = true;
            warn($"{Path.Combine(outDirectory, ReportWriter.FileName)}: live report not written ({e.GetType().Name}: {e.Message}); training goes on");
        }
    }
}
