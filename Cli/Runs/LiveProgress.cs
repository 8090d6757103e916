using MtnnCluster.Training;
using Spectre.Console;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// A live Spectre.Console display for a terminal: one bar for the epoch in progress (epoch, phase, step k of n,
/// rows/s, time left); lines written meanwhile appear above it, and the bar of a finished epoch goes away.
/// </summary>
public sealed class LiveProgress
{
    private readonly IAnsiConsole _console;
    private readonly TaskCompletionSource<ProgressContext> _context = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private readonly Task _display;
    private ProgressTask? _bar;
    private int _barEpoch;

    public LiveProgress(IAnsiConsole console)
    {
        _console = console;
        _display = console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                _context.TrySetResult(context);
                await _finished.Task;
            });
    }

    public void Step(StepProgress p)
    {
        if (_context.Task is not { IsCompletedSuccessfully: true } started) return; // a display that failed to start draws no bars
        var context = started.Result;
        lock (_gate)
        {
            if (_bar is null || _barEpoch != p.Epoch)
            {
                _bar?.StopTask();
                _bar = context.AddTask(Describe(p), maxValue: p.Steps);
                _barEpoch = p.Epoch;
            }
            _bar.Description = Describe(p);
            _bar.Value = p.Step;
        }
    }

    public void EpochDone(int epoch)
    {
        lock (_gate)
        {
            if (_bar is null || _barEpoch != epoch) return;
            _bar.StopTask();
            _bar = null;
        }
    }

    public void WriteLine(string line)
    {
        lock (_gate) _console.WriteLine(line);
    }

    /// <summary>Ends the display; the task completes once it has cleared its bars.</summary>
    public Task Stop()
    {
        _finished.TrySetResult();
        return _display;
    }

    private static string Describe(StepProgress p)
    {
        var rowsPerSecond = p.Rows / Math.Max(p.Seconds, 1e-9);
        var state = p.Step >= p.Steps ? "validating" : $"{rowsPerSecond:N0} rows/s";
        return Markup.Escape($"epoch {p.Epoch,3}/{p.Epochs} {p.Phase.ToString().ToLowerInvariant(),-5} step {p.Step}/{p.Steps}  {state}");
    }
}
