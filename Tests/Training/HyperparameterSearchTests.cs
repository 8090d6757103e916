using MtnnCluster.Training.Run;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary><see cref="HyperparameterSearch"/>: seeded sampling, the rungs of successive halving, who survives a rung.</summary>
public sealed class HyperparameterSearchTests
{
    private static string Key(TrialParameters p) => $"{p.LearningRate:R} {p.WeightDecay:R} {p.Dropout:R} {string.Join(',', p.Layers)} {p.BatchSize} {p.Bits}";

    [Fact]
    public void The_same_seed_samples_the_same_trials_and_another_seed_others()
    {
        var first = HyperparameterSearch.Sample(16, 7, SearchSpace.Default).Select(Key).ToArray();
        Assert.Equal(first, HyperparameterSearch.Sample(16, 7, SearchSpace.Default).Select(Key));
        Assert.NotEqual(first, HyperparameterSearch.Sample(16, 8, SearchSpace.Default).Select(Key));
        Assert.Equal(16, first.Distinct().Count());
    }

    [Fact]
    public void Samples_stay_in_the_space_and_a_pinned_setting_leaves_the_others_as_drawn()
    {
        var space = SearchSpace.Default;
        var trials = HyperparameterSearch.Sample(200, 1, space);
        Assert.All(trials, t =>
        {
            Assert.InRange(t.LearningRate, space.LearningRateLow, space.LearningRateHigh);
            Assert.True(t.WeightDecay == 0 || t.WeightDecay >= space.WeightDecayLow && t.WeightDecay <= space.WeightDecayHigh);
            Assert.InRange(t.Dropout, space.DropoutLow, space.DropoutHigh);
            Assert.Contains(t.Layers, space.Layers);
            Assert.Contains(t.BatchSize, space.BatchSizes);
            Assert.Contains(t.Bits, space.Bits);
            Assert.InRange(t.InputDropout, space.InputDropoutLow, space.InputDropoutHigh);
        });
        Assert.True(space.InputDropoutHigh > space.InputDropoutLow, "input dropout is searched");
        Assert.Contains(trials, t => t.WeightDecay == 0);
        Assert.Equal(space.Layers.Length, trials.Select(t => string.Join(',', t.Layers)).Distinct().Count());
        // log-uniform: about as many trials below the range's geometric middle as above it
        Assert.InRange(trials.Count(t => t.LearningRate < Math.Sqrt(space.LearningRateLow * space.LearningRateHigh)), 70, 130);

        var pinned = HyperparameterSearch.Sample(200, 1, space.PinLearningRate(3e-3).PinLayers([32]).PinWeightDecay(0).PinInputDropout(0.1));
        Assert.All(pinned, t => Assert.Equal((3e-3, 0.0, "32", 0.1), (t.LearningRate, t.WeightDecay, string.Join(',', t.Layers), t.InputDropout)));
        Assert.Equal(trials.Select(t => (t.Dropout, t.BatchSize, t.Bits)), pinned.Select(t => (t.Dropout, t.BatchSize, t.Bits)));
    }

    [Fact]
    public void Rungs_halve_the_trials_double_the_epochs_and_end_on_the_budget()
    {
        Assert.Equal([new Rung(0, 1, 3), new Rung(1, 2, 2)], HyperparameterSearch.Rungs(3, 2));
        Assert.Equal([new Rung(0, 2, 8), new Rung(1, 5, 4), new Rung(2, 10, 2), new Rung(3, 20, 1)], HyperparameterSearch.Rungs(8, 20));
        Assert.Equal([new Rung(0, 1, 5)], HyperparameterSearch.Rungs(5, 1)); // one epoch: no halving
        Assert.Equal([new Rung(0, 9, 1)], HyperparameterSearch.Rungs(1, 9));
        for (var trials = 1; trials <= 40; trials++)
            for (var budget = 1; budget <= 40; budget++)
            {
                var rungs = HyperparameterSearch.Rungs(trials, budget);
                Assert.Equal(budget, rungs[^1].Epochs);
                Assert.Equal(trials, rungs[0].Trials);
                Assert.All(rungs, r => Assert.InRange(r.Epochs, 1, budget));
                Assert.All(rungs.Zip(rungs.Skip(1)), pair => Assert.True(pair.First.Epochs < pair.Second.Epochs && pair.First.Trials > pair.Second.Trials));
                Assert.True(rungs[^1].Trials >= 1);
            }
    }

    [Theory]
    [InlineData(0, 5, "--trials")]
    [InlineData(3, 0, "--budget")]
    public void Impossible_searches_are_refused_naming_the_option(int trials, int budget, string option) =>
        Assert.Contains(option, Assert.Throws<ArgumentException>(() => HyperparameterSearch.Rungs(trials, budget)).Message);

    [Fact]
    public void Halving_keeps_the_best_validation_scores_with_nan_last_and_ties_to_the_earlier_trial()
    {
        (int, double)[] scored = [(0, 0.70), (1, double.NaN), (2, 0.81), (3, 0.75), (4, 0.81), (5, 0.60)];
        Assert.Equal([2, 4, 3], HyperparameterSearch.Best(scored, 3));
        Assert.Equal([2, 4, 3, 0, 5, 1], HyperparameterSearch.Best(scored, 10));
    }

    [Fact]
    public void The_graph_space_searches_depth_and_hidden_size_and_a_trial_names_only_its_trunk_s_options()
    {
        var trials = HyperparameterSearch.Sample(100, 3, SearchSpace.Graph);
        Assert.All(trials, t =>
        {
            Assert.Contains(t.Depth, SearchSpace.Graph.Depths!);
            Assert.Contains(t.Hidden, SearchSpace.Graph.HiddenSizes!);
            Assert.Equal(0, t.InputDropout);
        });
        Assert.True(trials.Select(t => t.Depth).Distinct().Count() > 2);
        var pinned = HyperparameterSearch.Sample(100, 3, SearchSpace.Graph.PinDepth(4));
        Assert.All(pinned, t => Assert.Equal(4, t.Depth));
        Assert.Equal(trials.Select(t => t.Hidden), pinned.Select(t => t.Hidden)); // the others as drawn

        var spec = new MtnnCluster.Training.RunSpec(new(["x.csv"], "smiles", null, null, null), new(2, 2048, true, Fingerprint: false, GraphFeatures: 1),
            new(MtnnCluster.Training.SplitKind.Random, 0, 0.8, 0.1, 0.1), new([300], 0, 0, MtnnCluster.Model.TrunkKind.Graph, new()),
            new(1e-3, 1e-4, 64, false), new(MtnnCluster.Training.ScheduleKind.Joint, 5, 1, 1, 0), 0);
        var trial = trials[0];
        var options = trial.Options(spec).Select(o => o.Option).ToArray();
        Assert.Equal(["--lr", "--weight-decay", "--dropout", "--layers", "--depth", "--hidden-size", "--batch-size"], options);
        var applied = trial.Apply(spec, 7);
        Assert.Equal((trial.Depth, trial.Hidden), (applied.Model.Graph!.Depth, applied.Model.Graph.Hidden));
    }
}
