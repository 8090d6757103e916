using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// Parameter initialisation from an explicit generator, so that a run is reproducible whatever else the process
/// (other workers, other threads) draws from torch's global generator.
/// </summary>
public static class SeededInit
{
    /// <summary>PyTorch's Linear default: U(-1/√fan_in, 1/√fan_in) for weights and biases.</summary>
    public static Tensor Uniform(long[] shape, long fanIn, Generator generator, Device device)
    {
        var bound = 1.0 / Math.Sqrt(fanIn);
        using var unit = rand(shape, ScalarType.Float32, generator: generator);
        using var width = (2 * bound).ToScalar();
        using var offset = bound.ToScalar();
        using var scaled = unit.mul(width).sub_(offset);
        return scaled.to(device).detach().requires_grad_(true);
    }

    /// <summary>A 64-bit seed from a run seed and a few integers (SplitMix64 finaliser), stable across platforms.</summary>
    public static long Mix(long seed, params long[] parts)
    {
        ulong h = unchecked((ulong)seed) ^ 0x9E3779B97F4A7C15UL;
        foreach (var part in parts)
        {
            h ^= unchecked((ulong)part) + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
            h ^= h >> 31;
        }
        return unchecked((long)(h & 0x7FFFFFFFFFFFFFFFUL));
    }
}
