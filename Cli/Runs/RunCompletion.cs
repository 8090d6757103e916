using MtnnCluster.Telemetry;
using MtnnCluster.Training;
using Spectre.Console;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// Observes a run: prints progress, records the epoch-level metrics (loss, validation score), and completes a task
/// when the run ends. Every epoch ends with one plain line (phase, loss, validation score, time, rows/s), fit for
/// log collectors; on a terminal a live bar also follows the steps of the epoch in progress (<see cref="LiveProgress"/>).
/// </summary>
public sealed class RunCompletion : ITrainingObserver
{
    private readonly TaskCompletionSource<RunOutcome> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TextWriter _output;
    private readonly bool _quiet;
    private readonly LiveProgress? _live;

    /// <summary>Plain lines on <paramref name="output"/>; none at all when <paramref name="quiet"/>.</summary>
    public RunCompletion(TextWriter output, bool quiet = false) : this(output, quiet, null) { }

    private RunCompletion(TextWriter output, bool quiet, LiveProgress? live)
    {
        _output = output;
        _quiet = quiet;
        _live = live;
    }

    /// <summary>Lines and a live step bar, drawn on <paramref name="console"/>.</summary>
    public static RunCompletion Live(IAnsiConsole console) => new(TextWriter.Null, false, new LiveProgress(console));

    /// <summary>The command line's observer: live bars when standard output is a terminal, plain lines when it goes to a file, pipe or log.</summary>
    public static RunCompletion ForConsole() =>
        ProgressStyles.Choose(Console.IsOutputRedirected, Environment.GetEnvironmentVariable("TERM")) == ProgressStyle.Live
            ? Live(AnsiConsole.Console)
            : new RunCompletion(Console.Out);

    public Task<RunOutcome> Outcome => _completion.Task;

    public void Info(string message) => Write(message);

    public void StepCompleted(StepProgress progress) => _live?.Step(progress);

    public void EpochCompleted(EpochReport r)
    {
        MtnnTelemetry.EpochCompleted(r.Epoch, r.Phase, r.TrainLoss, r.ValidScore);
        _live?.EpochDone(r.Epoch);
        Write(EpochLine(r));
    }

    public static string EpochLine(EpochReport r) =>
        $"epoch {r.Epoch,3}/{r.Epochs} {r.Phase.ToString().ToLowerInvariant(),-6} loss {r.TrainLoss,8:F4}  " +
        $"valid {r.ValidScore:F4}{(r.Improved ? " *" : "  ")}  {r.Seconds,6:F1} s  {r.RowsPerSecond,8:F0} rows/s";

    public void Completed(RunOutcome outcome) => AfterDisplay(() => _completion.TrySetResult(outcome));

    public void Failed(Exception error) => AfterDisplay(() => _completion.TrySetException(error));

    private void Write(string line)
    {
        if (_quiet) return;
        if (_live is null) _output.WriteLine(line);
        else _live.WriteLine(line);
    }

    // the summary printed after the run must not land inside a live display that is still drawing
    private void AfterDisplay(Action complete)
    {
        if (_live is null) complete();
        else _live.Stop().ContinueWith(_ => complete(), TaskScheduler.Default);
    }
}
