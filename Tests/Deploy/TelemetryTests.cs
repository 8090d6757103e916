using System.Diagnostics;
using System.Diagnostics.Metrics;
using MtnnCluster.Telemetry;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Deploy;

/// <summary>The instruments' values and the spans' shape, observed with the BCL's own listeners.</summary>
[Collection(nameof(TelemetryTests))] // listeners see every recording in the process: keep these tests apart from each other
public sealed class TelemetryTests
{
    [Fact]
    public void Task_losses_are_the_mean_per_labelled_entry_of_each_task_and_start_over_after_publishing()
    {
        var seen = new List<(string Task, double Loss)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MtnnTelemetry.Name && instrument.Name == "mtnn.task.loss") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "task") lock (seen) seen.Add(((string)tag.Value!, value));
        });
        listener.Start();

        using var tally = new TaskLossTally(3, CPU);
        // labelled cells (loss, task column); task c has no label at all
        using (var perCell = tensor(new float[] { 1, 4, 3 }))
        using (var columns = tensor(new long[] { 0, 1, 0 }))
            tally.Add(perCell, columns);
        using (var perCell = tensor(new float[] { 2 }))
        using (var columns = tensor(new long[] { 0 }))
            tally.Add(perCell, columns);
        tally.Publish(["a", "b", "c"]);
        Assert.Equal([("a", 2.0), ("b", 4.0)], seen.OrderBy(s => s.Task)); // a: (1+3+2)/3, b: 4/1, c: nothing

        seen.Clear();
        tally.Publish(["a", "b", "c"]);
        Assert.Empty(seen); // nothing trained since
    }

    [Fact]
    public void A_run_is_traced_as_epochs_of_rounds_and_a_round_holds_its_sends()
    {
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MtnnTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (stopped) stopped.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        var runId = $"run-{Guid.NewGuid():N}";
        Activity? currentDuringSend;
        using (var trace = new RunTrace(runId))
        {
            using (trace.RoundStarted("ready", 0, 0, 2)) { }
            trace.RoundCompleted();
            using (trace.RoundStarted("step", 1, 0, 2))
                currentDuringSend = Activity.Current;
            Assert.Null(Activity.Current); // put back once the requests are out: the actor's thread serves other messages
            trace.RoundCompleted();
            using (trace.RoundStarted("eval", 1, 0, 2)) { }
            trace.RoundCompleted();
            using (trace.RoundStarted("step", 2, 0, 2)) { }
            trace.Failed(new InvalidOperationException("worker lost"));
        }
        var run = Assert.Single(stopped, a => a.OperationName == "mtnn.run" && a.GetTagItem("mtnn.run.id") as string == runId);
        var mine = stopped.Where(a => a.TraceId == run.TraceId).ToArray(); // one trace per run
        var epochs = mine.Where(a => a.OperationName == "mtnn.epoch").ToArray();
        Assert.Equal([1, 2], epochs.Select(e => (int)e.GetTagItem("mtnn.epoch")!));
        Assert.All(epochs, e => Assert.Equal(run.SpanId, e.ParentSpanId));
        var rounds = mine.Where(a => a.OperationName.StartsWith("mtnn.round ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["mtnn.round ready", "mtnn.round step", "mtnn.round eval", "mtnn.round step"], rounds.Select(r => r.OperationName));
        Assert.Equal(run.SpanId, rounds[0].ParentSpanId); // epoch 0: setup, directly under the run
        Assert.Equal(epochs[0].SpanId, rounds[1].ParentSpanId);
        Assert.Equal(epochs[0].SpanId, rounds[2].ParentSpanId);
        Assert.Equal(epochs[1].SpanId, rounds[3].ParentSpanId);
        Assert.Same(rounds[1], currentDuringSend); // what is sent while the round starts is its child
        Assert.Equal(ActivityStatusCode.Error, rounds[3].Status);
        Assert.Equal(ActivityStatusCode.Error, run.Status);
    }
}
