using System.Diagnostics;

namespace MtnnCluster.Telemetry;

/// <summary>
/// The spans of one run as the coordinator drives it: <c>mtnn.run</c>, inside it one <c>mtnn.epoch</c> per epoch,
/// and inside those one <c>mtnn.round</c> per exchange with the workers (whose chunked sends are spans of their
/// own). Parents are passed explicitly: an actor's thread serves many messages, so <see cref="Activity.Current"/>
/// is set only while a round sends its requests (<see cref="RoundStarted"/>'s scope) and put back after.
/// </summary>
public sealed class RunTrace(string runId) : IDisposable
{
    private Activity? _run;
    private Activity? _epoch;
    private int _epochNumber;
    private Activity? _round;
    private string _roundKind = "";
    private long _roundStarted;

    /// <summary>
    /// Opens the span of a round (closing a round left open, and moving to a new epoch span when the epoch
    /// changes). Dispose the result once the requests are sent: until then they are children of the round.
    /// </summary>
    public IDisposable RoundStarted(string kind, int epoch, int step, int workers)
    {
        var outer = Activity.Current;
        _run ??= MtnnTelemetry.Source.StartActivity("mtnn.run", ActivityKind.Internal, default(ActivityContext),
            [new("mtnn.run.id", runId)]);
        if (epoch != _epochNumber)
        {
            End(_epoch);
            _epoch = epoch > 0 ? MtnnTelemetry.Source.StartActivity("mtnn.epoch", ActivityKind.Internal, _run?.Context ?? default,
                [new("mtnn.run.id", runId), new("mtnn.epoch", epoch)]) : null;
            _epochNumber = epoch;
        }
        End(_round);
        _round = MtnnTelemetry.Source.StartActivity($"mtnn.round {kind}", ActivityKind.Internal, (_epoch ?? _run)?.Context ?? default,
            [new("mtnn.round", kind), new("mtnn.epoch", epoch), new("mtnn.step", step), new("mtnn.workers", workers)]);
        _roundKind = kind;
        _roundStarted = Stopwatch.GetTimestamp();
        Activity.Current = _round ?? outer;
        return new CurrentRestorer(outer);
    }

    /// <summary>Every worker has answered the round.</summary>
    public void RoundCompleted()
    {
        MtnnTelemetry.RoundCompleted(_roundKind, Stopwatch.GetElapsedTime(_roundStarted).TotalSeconds);
        End(_round);
        _round = null;
    }

    /// <summary>The run failed: its open spans end with an error status.</summary>
    public void Failed(Exception error)
    {
        foreach (var span in new[] { _round, _epoch, _run })
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
        Dispose();
    }

    public void Dispose()
    {
        End(_round);
        End(_epoch);
        End(_run);
        _round = _epoch = _run = null;
    }

    /// <summary>Stops a span without letting it reset <see cref="Activity.Current"/> to whatever was current at its start.</summary>
    private static void End(Activity? span)
    {
        if (span is null) return;
        var current = Activity.Current;
        span.Dispose();
        Activity.Current = current == span ? null : current;
    }

    private sealed class CurrentRestorer(Activity? outer) : IDisposable
    {
        public void Dispose() => Activity.Current = outer;
    }
}
