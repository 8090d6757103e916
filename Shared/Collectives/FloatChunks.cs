using System.Numerics;
using System.Runtime.InteropServices;

namespace MtnnCluster.Collectives;

/// <summary>The vector sum the transports' reductions share.</summary>
internal static class FloatChunks
{
    /// <summary><paramref name="into"/>[i] += <paramref name="add"/>[i]; element by element, so the result does not depend on the vector width.</summary>
    public static void Add(Span<float> into, ReadOnlySpan<float> add)
    {
        if (add.Length != into.Length) throw new ArgumentException("spans of different lengths");
        var i = 0;
        if (Vector.IsHardwareAccelerated && into.Length >= Vector<float>.Count)
        {
            var intoVectors = MemoryMarshal.Cast<float, Vector<float>>(into);
            var addVectors = MemoryMarshal.Cast<float, Vector<float>>(add);
            for (var v = 0; v < intoVectors.Length; v++) intoVectors[v] += addVectors[v];
            i = intoVectors.Length * Vector<float>.Count;
        }
        for (; i < into.Length; i++) into[i] += add[i];
    }
}
