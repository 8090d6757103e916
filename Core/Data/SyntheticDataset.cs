using System.Globalization;

namespace MtnnCluster.Data;

/// <summary>One generated row: its set feature bits (ascending), its labelled tasks (ascending) and their 0/1 labels.</summary>
public sealed record SyntheticRow(int[] Bits, int[] Tasks, float[] Labels);

/// <summary>
/// A synthetic multitask dataset with planted shared structure, for benchmarks at sizes no public dataset has.
/// Each row has <see cref="BitsPerRow"/> random set bits out of the feature width (ECFP-like sparsity); a fixed
/// random projection maps them to a <see cref="Rank"/>-dimensional latent vector z; task t is labelled on a row
/// with probability <see cref="Density"/>, and its label is 1 with probability sigmoid(u_t·z + b_t) for fixed
/// task loadings u_t and biases b_t. All tasks share the latent space, which is what a shared trunk can learn.
/// Every row is a pure function of (seed, row index): rows are generated on the fly, in any order, on any node,
/// and only the projection (width × rank) and the loadings (tasks × rank) are held in memory, never a row × task
/// label matrix (1M rows × 10,000 tasks would be 40 GB dense). Named by a descriptor,
/// <c>synthetic:ROWS,TASKS,DENSITY[,SEED]</c>, wherever a data path is expected.
/// </summary>
public sealed class SyntheticDataset
{
    public const string Prefix = "synthetic:";
    public const int Rank = 8;
    public const int BitsPerRow = 40;

    private readonly float[] _projection; // [width × rank]
    private readonly float[] _loadings;   // [tasks × rank]
    private readonly float[] _biases;

    public int Rows { get; }
    public int Tasks { get; }
    public double Density { get; }
    public int Seed { get; }
    public int Width { get; }
    public string Descriptor => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Rows},{Tasks},{Density},{Seed}");

    public SyntheticDataset(int rows, int tasks, double density, int seed, int width)
    {
        if (rows < 1) throw new ArgumentException($"synthetic dataset: rows must be ≥ 1 (got {rows})");
        if (tasks < 1) throw new ArgumentException($"synthetic dataset: tasks must be ≥ 1 (got {tasks})");
        if (density is <= 0 or > 1) throw new ArgumentException($"synthetic dataset: density must be in (0, 1] (got {density})");
        if (width < BitsPerRow * 2) throw new ArgumentException($"synthetic dataset: feature width must be ≥ {BitsPerRow * 2} (got {width})");
        (Rows, Tasks, Density, Seed, Width) = (rows, tasks, density, seed, width);
        var random = new SplitMix64(Mix(seed, -1));
        _projection = new float[width * Rank];
        var scale = 1 / Math.Sqrt(BitsPerRow);
        for (var i = 0; i < _projection.Length; i++) _projection[i] = (float)(Gaussian(random) * scale);
        _loadings = new float[tasks * Rank];
        for (var i = 0; i < _loadings.Length; i++) _loadings[i] = (float)(Gaussian(random) * 3 / Math.Sqrt(Rank)); // logits of spread 3: labels mostly decided by z
        _biases = new float[tasks];
        for (var t = 0; t < tasks; t++) _biases[t] = (float)(-1.5 + 0.5 * Gaussian(random)); // about one label in three positive
    }

    /// <summary>True when <paramref name="path"/> is a synthetic descriptor rather than a file.</summary>
    public static bool IsDescriptor(string path) => path.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>Parses ROWS,TASKS,DENSITY[,SEED] (with or without the prefix); errors name <paramref name="option"/>.</summary>
    public static SyntheticDataset Parse(string text, int width, string option = "--synthetic")
    {
        var body = IsDescriptor(text) ? text[Prefix.Length..] : text;
        var parts = body.Split(',', StringSplitOptions.TrimEntries);
        var inv = CultureInfo.InvariantCulture;
        if (parts.Length is < 3 or > 4
            || !int.TryParse(parts[0], NumberStyles.Integer, inv, out var rows)
            || !int.TryParse(parts[1], NumberStyles.Integer, inv, out var tasks)
            || !double.TryParse(parts[2], NumberStyles.Float, inv, out var density))
            throw new ArgumentException($"{option}: '{text}' is not ROWS,TASKS,DENSITY[,SEED] (for example 100000,1000,0.05)");
        var seed = 0;
        if (parts.Length == 4 && !int.TryParse(parts[3], NumberStyles.Integer, inv, out seed))
            throw new ArgumentException($"{option}: seed '{parts[3]}' is not an integer");
        return new SyntheticDataset(rows, tasks, density, seed, width);
    }

    /// <summary>Row <paramref name="row"/>, the same on every call and every node.</summary>
    public SyntheticRow Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        var random = new SplitMix64(Mix(Seed, row));
        var bits = new HashSet<int>(BitsPerRow);
        while (bits.Count < BitsPerRow) bits.Add(random.NextInt(Width));
        var sorted = bits.Order().ToArray();
        Span<float> latent = stackalloc float[Rank];
        foreach (var bit in sorted)
            for (var k = 0; k < Rank; k++) latent[k] += _projection[bit * Rank + k];

        var tasks = new List<int>((int)Math.Min(Tasks, Tasks * Density * 1.5 + 8));
        var labels = new List<float>(tasks.Capacity);
        // Labelled tasks by geometric skips: O(labels) per row, not O(tasks).
        var logMiss = Math.Log(1 - Density);
        for (long next = Skip(random, logMiss); next < Tasks; next += 1L + Skip(random, logMiss))
        {
            var task = (int)next;
            double logit = _biases[task];
            for (var k = 0; k < Rank; k++) logit += _loadings[task * Rank + k] * latent[k];
            tasks.Add(task);
            labels.Add(Uniform(random) < 1 / (1 + Math.Exp(-logit)) ? 1f : 0f);
        }
        return new SyntheticRow(sorted, tasks.ToArray(), labels.ToArray());
    }

    private static int Skip(SplitMix64 random, double logMiss)
    {
        if (double.IsNegativeInfinity(logMiss)) return 0; // density 1: every task
        var skip = Math.Floor(Math.Log(1 - Uniform(random)) / logMiss);
        return skip >= int.MaxValue ? int.MaxValue - 1 : (int)skip;
    }

    private static double Uniform(SplitMix64 random) => (random.Next() >> 11) * (1.0 / (1UL << 53));

    private static double Gaussian(SplitMix64 random) =>
        Math.Sqrt(-2 * Math.Log(1 - Uniform(random))) * Math.Cos(2 * Math.PI * Uniform(random));

    private static long Mix(long seed, long part)
    {
        unchecked
        {
            var z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)part * 0xC2B2AE3D27D4EB4FUL;
            return (long)new SplitMix64((long)z).Next();
        }
    }
}
