namespace MtnnCluster.Training.Run;

/// <summary>One trial's configuration: what the search varies over the base run.</summary>
/// <param name="Depth">The graph trunk's message-passing steps; 0 for a fingerprint run.</param>
/// <param name="Hidden">The graph trunk's bond and atom state width; 0 for a fingerprint run.</param>
public sealed record TrialParameters(double LearningRate, double WeightDecay, double Dropout, int[] Layers, int BatchSize, int Bits, double InputDropout = 0,
    int Depth = 0, int Hidden = 0)
{
    /// <summary>The base run with this trial's settings, trained for at most <paramref name="epochs"/>.</summary>
    public RunSpec Apply(RunSpec spec, int epochs) => spec with
    {
        Featurizer = spec.Featurizer with { Bits = Bits },
        Model = spec.Model with
        {
            Layers = Layers, Dropout = Dropout, InputDropout = InputDropout,
            Graph = spec.Model.Graph is { } graph && Depth > 0 ? graph with { Depth = Depth, Hidden = Hidden } : spec.Model.Graph,
        },
        Optimizer = spec.Optimizer with { LearningRate = LearningRate, WeightDecay = WeightDecay, BatchSize = BatchSize },
        Schedule = spec.Schedule with { Epochs = epochs },
    };

    /// <summary>
    /// The <c>train</c> options that give this trial's settings, in order: those of the trunk it trains (a graph run
    /// has no input dropout, and no bits unless the fingerprint is among its molecule features).
    /// </summary>
    public IReadOnlyList<(string Option, string Value)> Options(RunSpec spec)
    {
        static string N(double v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture); // shortest round trip
        var graph = spec.Model.Trunk == Model.TrunkKind.Graph;
        var options = new List<(string, string)> { ("--lr", N(LearningRate)), ("--weight-decay", N(WeightDecay)), ("--dropout", N(Dropout)) };
        if (!graph) options.Add(("--input-dropout", N(InputDropout)));
        options.Add(("--layers", string.Join(',', Layers)));
        if (graph) options.AddRange([("--depth", N(Depth)), ("--hidden-size", N(Hidden))]);
        options.Add(("--batch-size", N(BatchSize)));
        if (spec.Featurizer.Fingerprint) options.Add(("--bits", N(Bits)));
        return options;
    }
}

/// <summary>
/// Where trials are drawn from. Learning rate and weight decay are log-uniform (weight decay is 0 with
/// <see cref="WeightDecayZeroChance"/>); dropout and input dropout uniform; the rest one of a list. A range whose ends are equal, or a
/// list of one, pins that setting (an option given to <c>tune</c> explicitly).
/// </summary>
public sealed record SearchSpace(
    double LearningRateLow, double LearningRateHigh,
    double WeightDecayLow, double WeightDecayHigh, double WeightDecayZeroChance,
    double DropoutLow, double DropoutHigh,
    int[][] Layers, int[] BatchSizes, int[] Bits,
    double InputDropoutLow = 0, double InputDropoutHigh = 0,
    int[]? Depths = null, int[]? HiddenSizes = null)
{
    public static readonly SearchSpace Default = new(1e-4, 3e-3, 1e-6, 1e-3, 0.25, 0.0, 0.5,
        [[1000, 100], [2000, 100], [2000, 500, 100], [4000, 100]], [64, 128, 256], [1024, 2048], 0.0, 0.3);

    /// <summary>
    /// The graph trunk's space, around chemprop's defaults (depth 3, hidden 300, one 300-wide layer after the
    /// readout, dropout 0): depth 2-6, hidden 200-600, the layers after the readout, smaller batches; no input dropout.
    /// </summary>
    public static readonly SearchSpace Graph = new(1e-4, 3e-3, 1e-6, 1e-3, 0.25, 0.0, 0.4,
        [[300], [300, 300], [600], [1000]], [32, 64, 128], [2048], 0.0, 0.0, [2, 3, 4, 5, 6], [200, 300, 400, 600]);

    public SearchSpace PinLearningRate(double value) => this with { LearningRateLow = value, LearningRateHigh = value };
    public SearchSpace PinWeightDecay(double value) => this with { WeightDecayLow = value, WeightDecayHigh = value, WeightDecayZeroChance = 0 };
    public SearchSpace PinDropout(double value) => this with { DropoutLow = value, DropoutHigh = value };
    public SearchSpace PinLayers(int[] value) => this with { Layers = [value] };
    public SearchSpace PinBatchSize(int value) => this with { BatchSizes = [value] };
    public SearchSpace PinBits(int value) => this with { Bits = [value] };
    public SearchSpace PinInputDropout(double value) => this with { InputDropoutLow = value, InputDropoutHigh = value };
    public SearchSpace PinDepth(int value) => this with { Depths = [value] };
    public SearchSpace PinHiddenSize(int value) => this with { HiddenSizes = [value] };
}

/// <summary>A round of successive halving: <see cref="Trials"/> trials each trained for at most <see cref="Epochs"/>.</summary>
public sealed record Rung(int Index, int Epochs, int Trials);

/// <summary>
/// Random search with synchronous successive halving (ASHA's rule, one rung at a time): every trial trains a few
/// epochs, the best 1/<see cref="Reduction"/> by validation score go on to the next rung with
/// <see cref="Reduction"/> times the epochs, the last rung trains for the whole budget. Test scores never enter.
/// </summary>
public static class HyperparameterSearch
{
    public const int Reduction = 2;

    /// <summary>The trials a seed draws; the same seed and space always draw the same trials.</summary>
    public static TrialParameters[] Sample(int trials, int seed, SearchSpace space)
    {
        if (trials < 1) throw new ArgumentException($"--trials must be at least 1 (got {trials})");
        var random = new Random(seed);
        return Enumerable.Range(0, trials).Select(_ =>
        {
            // every setting takes its draws even when pinned, so pinning one does not change the others
            var (lr, wdZero, wd, dropout, layers, batch, bits, inputDropout) = (random.NextDouble(), random.NextDouble(), random.NextDouble(), random.NextDouble(),
                random.Next(space.Layers.Length), random.Next(space.BatchSizes.Length), random.Next(space.Bits.Length), random.NextDouble());
            // the graph's draws come after all of the fingerprint's, which stay what they were before the graph trunk
            var (depth, hidden) = space.Depths is { } depths && space.HiddenSizes is { } sizes
                ? (depths[random.Next(depths.Length)], sizes[random.Next(sizes.Length)]) : (0, 0);
            return new TrialParameters(
                LogUniform(space.LearningRateLow, space.LearningRateHigh, lr),
                wdZero < space.WeightDecayZeroChance ? 0 : LogUniform(space.WeightDecayLow, space.WeightDecayHigh, wd),
                space.DropoutLow + (space.DropoutHigh - space.DropoutLow) * dropout,
                space.Layers[layers], space.BatchSizes[batch], space.Bits[bits],
                space.InputDropoutLow + (space.InputDropoutHigh - space.InputDropoutLow) * inputDropout, depth, hidden);
        }).ToArray();
    }

    /// <summary>
    /// The rungs for <paramref name="trials"/> trials and a budget of <paramref name="budget"/> epochs: as many as
    /// halving can make before one trial is left or a rung would get under one epoch; the last trains the budget.
    /// </summary>
    public static Rung[] Rungs(int trials, int budget)
    {
        if (trials < 1) throw new ArgumentException($"--trials must be at least 1 (got {trials})");
        if (budget < 1) throw new ArgumentException($"--budget must be at least 1 epoch (got {budget})");
        var count = 1;
        while (Power(count) <= trials && budget / Power(count) >= 1) count++;
        return Enumerable.Range(0, count)
            .Select(i => new Rung(i, budget / Power(count - 1 - i), (int)Math.Ceiling(trials / (double)Power(i))))
            .ToArray();
    }

    /// <summary>
    /// The <paramref name="keep"/> trials with the highest validation scores, best first (a NaN score, a run with no
    /// scored validation task, ranks last; ties go to the earlier trial).
    /// </summary>
    public static int[] Best(IReadOnlyList<(int Trial, double ValidScore)> scored, int keep) =>
        scored.OrderByDescending(s => double.IsNaN(s.ValidScore) ? double.NegativeInfinity : s.ValidScore)
            .ThenBy(s => s.Trial).Take(keep).Select(s => s.Trial).ToArray();

    private static int Power(int exponent) => (int)Math.Pow(Reduction, exponent);

    private static double LogUniform(double low, double high, double unit) =>
        low == high ? low : Math.Exp(Math.Log(low) + (Math.Log(high) - Math.Log(low)) * unit);
}
