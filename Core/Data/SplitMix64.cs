namespace MtnnCluster.Data;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fixed by its definition,
/// so splits stay the same across runs, processes and .NET versions (System.Random promises no such thing).
/// </summary>
internal sealed class SplitMix64(long seed)
{
    private ulong _state = unchecked((ulong)seed);

    public ulong Next()
    {
        unchecked
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, <paramref name="bound"/>), without modulo bias.</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        var range = (ulong)bound;
        var rejectBelow = unchecked(0UL - range) % range; // 2^64 mod range: the values that would bias the result
        ulong value;
        do
            value = Next();
        while (value < rejectBelow);
        return (int)(value % range);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
