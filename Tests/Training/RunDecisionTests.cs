using System.Runtime.InteropServices;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary>The run's decisions without an actor system: schedule and stop rule, early stopping, placement, recovery.</summary>
public sealed class RunDecisionTests
{
    private static RunSpec Spec(ScheduleKind kind = ScheduleKind.Joint, int epochs = 10, int patience = 0, int batch = 100, int syncEvery = 1) => new(
        new DatasetSpec(["/d.csv"], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, batch, false), new ScheduleSpec(kind, epochs, 2, 1, patience, syncEvery), 0);

    [Fact]
    public void An_epoch_takes_one_step_per_batch_of_all_training_rows()
    {
        Assert.Equal(3, new RunSchedule(Spec(batch: 100), 250).StepsPerEpoch);
        Assert.Equal(1, new RunSchedule(Spec(batch: 100), 0).StepsPerEpoch); // an empty split still makes one (empty) step
        Assert.Equal([new StepRound(0, 1), new StepRound(1, 1), new StepRound(2, 1)], new RunSchedule(Spec(batch: 100), 250).Rounds());
    }

    [Fact]
    public void Local_steps_group_batches_into_rounds_and_the_last_round_takes_what_is_left()
    {
        var rounds = new RunSchedule(Spec(batch: 10, syncEvery: 4), 95).Rounds();
        Assert.Equal([new StepRound(0, 4), new StepRound(4, 4), new StepRound(8, 2)], rounds);
        Assert.Equal(10, rounds[^1].End);
    }

    [Fact]
    public void Alternate_starts_with_head_epochs_then_trunk_epochs()
    {
        var schedule = new RunSchedule(Spec(ScheduleKind.Alternate), 100);
        Assert.Equal([EpochPhase.Heads, EpochPhase.Trunk, EpochPhase.Trunk, EpochPhase.Heads], Enumerable.Range(1, 4).Select(schedule.PhaseOf));
        Assert.Equal(EpochPhase.Joint, new RunSchedule(Spec(), 100).PhaseOf(7));
    }

    [Fact]
    public void The_run_stops_at_its_epoch_budget_or_when_patience_runs_out()
    {
        var budget = new RunSchedule(Spec(epochs: 3), 100);
        Assert.Equal(1, budget.NextEpoch(0, 0));
        Assert.Equal(3, budget.NextEpoch(2, 1));
        Assert.Null(budget.NextEpoch(3, 1));

        var patient = new RunSchedule(Spec(epochs: 40, patience: 5), 100);
        Assert.Equal(9, patient.NextEpoch(8, 4)); // 4 epochs without improvement
        Assert.Null(patient.NextEpoch(9, 4)); // the 5th
        Assert.False(patient.IsOver(0, 0)); // patience never stops a run before its first epoch
    }

    [Fact]
    public void A_checkpoint_is_written_every_N_epochs_and_at_the_last()
    {
        var schedule = new RunSchedule(Spec(epochs: 7), 100);
        Assert.Equal([3, 6, 7], Enumerable.Range(1, 7).Where(e => schedule.CheckpointAfter(e, e, every: 3)));
        var stopped = new RunSchedule(Spec(epochs: 40, patience: 2), 100);
        Assert.True(stopped.CheckpointAfter(5, 3, every: 10)); // early stopping ends the run: its state is kept
    }

    private static TaskMetrics Auc(string task, double auc) => new(task, TaskKind.Classification, Split.Valid, 10, 5, auc, 0.5, double.NaN, double.NaN, double.NaN);
    private static TaskMetrics R2(string task, double r2) => new(task, TaskKind.Regression, Split.Valid, 10, 0, double.NaN, double.NaN, 1, 1, r2);

    [Fact]
    public void The_validation_score_averages_ROC_AUC_and_R2_and_the_best_epoch_follows_it()
    {
        var progress = RunProgress.Fresh(minClassCount: 5);
        var tally = new EpochTally();
        tally.Add(6, 3, 10);
        var first = progress.Record(1, 3, EpochPhase.Joint, tally, 2.0, [Auc("a", 0.6), R2("b", 0.2), Auc("c", double.NaN)]);
        Assert.Equal(0.4, first.ValidScore, 12); // (0.6 + 0.2) / 2: the single-class task is left out
        Assert.Equal(0.6, first.MeanValidRocAuc, 12);
        Assert.Equal(2.0, first.TrainLoss, 12);
        Assert.Equal(5.0, first.RowsPerSecond, 12);
        Assert.True(first.Improved);
        Assert.False(progress.Record(2, 3, EpochPhase.Joint, new EpochTally(), 1, [Auc("a", 0.5), R2("b", 0.3)]).Improved); // 0.4 again
        Assert.True(progress.Record(3, 3, EpochPhase.Joint, new EpochTally(), 1, [Auc("a", 0.7)]).Improved);
        Assert.Equal((3, 0.7), (progress.BestEpoch, progress.BestScore));
        Assert.True(double.IsNaN(progress.History[1].TrainLoss)); // no label seen: no loss
    }

    [Fact]
    public void A_first_epoch_without_any_score_is_still_the_best_so_far()
    {
        var progress = RunProgress.Fresh(minClassCount: 5);
        Assert.True(progress.Record(1, 2, EpochPhase.Heads, new EpochTally(), 1, [Auc("a", double.NaN)]).Improved);
        Assert.Equal(1, progress.BestEpoch);
    }

    private static readonly long[] Labels = [50, 40, 30, 30, 20, 20, 10, 10, 5, 5];

    [Fact]
    public void Placement_moves_only_a_lost_worker_s_tasks_and_counts_them()
    {
        var placement = new TaskPlacement(Labels);
        var start = placement.Start([new("a", 1), new("b", 1), new("c", 1)]);
        Assert.Equal(0 + Labels.Length, start.Moved); // every task is new
        var held = start.Assignment["b"];
        Assert.True(placement.Holds(["b"]));
        var lost = placement.Lost([new("a", 1), new("c", 1)]);
        Assert.Equal(held.Length, lost.Moved);
        Assert.Equal(Enumerable.Range(0, Labels.Length), lost.Assignment.Values.SelectMany(t => t).Order());
        Assert.Superset(start.Assignment["a"].ToHashSet(), lost.Assignment["a"].ToHashSet());
        Assert.False(placement.Holds(["b"]));
    }

    [Fact]
    public void A_joining_worker_is_unplaced_until_the_placement_takes_it_in()
    {
        var placement = new TaskPlacement(Labels);
        placement.Start([new("a", 1), new("b", 1)]);
        Assert.Equal(["c"], placement.Unplaced(["a", "b", "c"]));
        var joined = placement.Joined([new("a", 1), new("b", 1), new("c", 1)]);
        Assert.Empty(placement.Unplaced(["a", "b", "c"]));
        Assert.True(joined.Assignment.ContainsKey("c"));
        Assert.InRange(joined.Moved, joined.Assignment["c"].Length, Labels.Length / 2); // a few tasks move, all of c's among them
    }

    [Theory]
    [InlineData(12, 1)]
    [InlineData(617, 1)]
    [InlineData(617, 2)]
    public void A_worker_that_comes_back_after_its_tasks_moved_gets_a_fair_share_again(int tasks, int slotsOfC)
    {
        var random = new Random(7);
        var labels = Enumerable.Range(0, tasks).Select(_ => (long)random.Next(10, 2000)).ToArray();
        var placement = new TaskPlacement(labels);
        WorkerSlot[] all = [new("a", 1), new("b", 1), new("c", slotsOfC)];
        placement.Start(all);
        placement.Lost([all[0], all[1]]);
        var back = placement.Joined(all);

        // fair: every worker's labels per slot within one task of the mean, the one that came back included
        var fair = labels.Sum() / (double)all.Sum(w => w.Slots);
        foreach (var worker in all)
        {
            var perSlot = back.Assignment[worker.WorkerId].Sum(t => labels[t]) / (double)worker.Slots;
            Assert.InRange(perSlot, fair - labels.Max(), fair + labels.Max());
        }
        Assert.Equal(Enumerable.Range(0, tasks), back.Assignment.Values.SelectMany(t => t).Order());
    }

    [Fact]
    public void A_suspicion_becomes_a_loss_only_after_the_whole_grace()
    {
        var t0 = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var suspicions = new Suspicions(TimeSpan.FromSeconds(3));
        Assert.True(suspicions.Suspected("a", t0));
        Assert.False(suspicions.Suspected("a", t0.AddSeconds(1))); // a repeated event does not restart the grace
        Assert.Equal(TimeSpan.FromSeconds(1), suspicions.Remaining("a", t0.AddSeconds(2)));
        Assert.Equal(SuspicionVerdict.Waiting, suspicions.Check("a", t0.AddSeconds(2.9))); // a timer that fires early waits more
        Assert.Equal(SuspicionVerdict.Lost, suspicions.Check("a", t0.AddSeconds(3)));
        Assert.False(suspicions.IsSuspected("a"));
        Assert.Equal(SuspicionVerdict.Cleared, suspicions.Check("a", t0.AddSeconds(4))); // decided once

        // reachable again within the grace: cleared, and its timer finds nothing to do
        Assert.True(suspicions.Suspected("b", t0));
        Assert.True(suspicions.Cleared("b"));
        Assert.False(suspicions.Cleared("b"));
        Assert.Equal(SuspicionVerdict.Cleared, suspicions.Check("b", t0.AddSeconds(10)));
        Assert.Equal(TimeSpan.Zero, suspicions.Remaining("b", t0));

        // suspected again later: a new grace from then
        Assert.True(suspicions.Suspected("b", t0.AddSeconds(20)));
        Assert.Equal(SuspicionVerdict.Waiting, suspicions.Check("b", t0.AddSeconds(22)));
    }

    [Fact]
    public void With_every_worker_lost_there_is_no_assignment_until_one_joins()
    {
        var placement = new TaskPlacement(Labels);
        placement.Start([new("a", 1)]);
        var none = placement.Lost([]);
        Assert.False(placement.HasWorkers);
        Assert.Equal(0, none.Moved); // no task has a new home yet
        var back = placement.Joined([new("d", 1)]);
        Assert.Equal(Enumerable.Range(0, Labels.Length), back.Assignment["d"].Order());
    }

    [Fact]
    public void Recovery_time_runs_from_the_first_interruption_to_training_again()
    {
        var t0 = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var events = new RunEvents([]);
        events.Interrupted(new RunEvent(t0, RunEventKind.WorkerLost, "a", 3, 2));
        events.Add(new RunEvent(t0.AddSeconds(1), RunEventKind.CheckpointFailed, "", 0, 2)); // training did not stop for it
        events.Interrupted(new RunEvent(t0.AddSeconds(2), RunEventKind.WorkerLeft, "b", 2, 2));
        events.Interrupted(new RunEvent(t0.AddSeconds(3), RunEventKind.WorkerJoined, "c", 1, 2));
        Assert.Equal(5.0, events.Recovered(t0.AddSeconds(5)));
        Assert.Equal([5.0, null, 3.0, null], events.All.Select(e => e.RecoverySeconds));
        Assert.Null(events.Recovered(t0.AddSeconds(9))); // nothing waits any more
        Assert.Equal("worker_left", events.All[2].KindName);
    }

    [Fact]
    public void Rows_are_cut_into_contiguous_ranges_in_proportion_to_slots()
    {
        Assert.Equal((0, 10), RowPlacement.Range(10, [1], 0));
        Assert.Equal([(0, 3), (3, 6), (6, 10)], Enumerable.Range(0, 3).Select(r => RowPlacement.Range(10, [1, 1, 1], r)));
        Assert.Equal([(0, 2), (2, 8), (8, 10)], Enumerable.Range(0, 3).Select(r => RowPlacement.Range(10, [1, 3, 1], r)));
        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 2, 2, 2], RowPlacement.Owners(10, [1, 1, 1]));
        Assert.Equal(0, RowPlacement.Range(2, [1, 1, 1], 0).Item2 - RowPlacement.Range(2, [1, 1, 1], 0).Item1); // more ranks than rows: some get none
        Assert.Throws<ArgumentException>(() => RowPlacement.Range(10, [1, 0], 0));
    }

    [Fact]
    public void A_layout_ranks_workers_by_id_and_names_each_task_s_owner()
    {
        var assignment = new Dictionary<string, int[]> { ["w-b"] = [1, 2], ["w-a"] = [0], ["w-c"] = [] };
        var layouts = ShardLayout.Of(assignment, new Dictionary<string, int> { ["w-a"] = 1, ["w-b"] = 2, ["w-c"] = 1 }, 4);
        Assert.Equal([0, 1, 2], new[] { "w-a", "w-b", "w-c" }.Select(w => layouts[w].Rank));
        Assert.Equal([0, 1, 1, -1], layouts["w-a"].TaskRanks);
        Assert.Equal([1, 2, 1], layouts["w-c"].SlotsByRank);
        Assert.Equal([1, 2], layouts["w-b"].OwnTasks());
        Assert.Empty(layouts["w-c"].OwnTasks()); // no task, still a share of the rows
    }

    [Fact]
    public void An_epoch_is_cut_into_a_few_rounds_of_whole_sync_blocks()
    {
        var spec = Spec() with { Optimizer = new OptimizerSpec(1e-3, 0, 10, false) };
        var rounds = new RunSchedule(spec, 1000).Rounds(); // 100 steps
        Assert.Equal(RunSchedule.RoundsPerEpoch, rounds.Count);
        Assert.Equal(100, rounds.Sum(r => r.Count));
        var local = new RunSchedule(spec with { Schedule = spec.Schedule with { SyncEvery = 3 } }, 1000).Rounds();
        Assert.All(local.SkipLast(1), r => Assert.Equal(0, r.Count % 3));
        Assert.Equal(Enumerable.Range(0, local.Count).Select(i => local.Take(i).Sum(r => r.Count)), local.Select(r => r.Step));
        Assert.Single(new RunSchedule(spec, 5).Rounds());
    }
}
