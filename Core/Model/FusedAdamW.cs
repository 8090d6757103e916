using System.Numerics;
using System.Runtime.InteropServices;

namespace MtnnCluster.Model;

/// <summary>
/// AdamW's update of float32 elements in one pass over host memory: each element's parameter, gradient and two
/// moments are read once and written once (the same arithmetic as the tensor-op form, which makes nine passes
/// over a 17 MB trunk and spent as long as the step's forward and backward on this CPU). Element by element, so
/// the result does not depend on the vector width or on how the elements are split among threads.
/// </summary>
public readonly record struct AdamWCoefficients(float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
    float Correction2, float Epsilon, float Decay, float StepSize)
{
    /// <summary>The coefficients of step number <paramref name="step"/> (1-based) of a run with these settings.</summary>
    public static AdamWCoefficients For(long step, double learningRate, double weightDecay, double beta1, double beta2, double epsilon) =>
        new((float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2), (float)(1 - Math.Pow(beta2, step)), (float)epsilon,
            (float)(1 - learningRate * weightDecay), (float)(-learningRate / (1 - Math.Pow(beta1, step))));
}

public static class FusedAdamW
{
    // Elements per piece of work handed to a thread: large enough that scheduling costs nothing, small enough to share out.
    private const int BlockElements = 1 << 16;

    /// <summary>One AdamW step of the elements of <paramref name="parameters"/> (with their moments) from <paramref name="gradients"/>, on up to <paramref name="threads"/> threads.</summary>
    public static void Step(Span<float> parameters, Span<float> firstMoments, Span<float> secondMoments, ReadOnlySpan<float> gradients,
        in AdamWCoefficients c, int threads)
    {
        var length = parameters.Length;
        if (firstMoments.Length != length || secondMoments.Length != length || gradients.Length != length)
            throw new ArgumentException("parameters, moments and gradients of different lengths");
        var blocks = (length + BlockElements - 1) / BlockElements;
        if (threads <= 1 || blocks <= 1) Apply(parameters, firstMoments, secondMoments, gradients, c);
        else StepInParallel(parameters, firstMoments, secondMoments, gradients, c, threads, blocks);
    }

    // apart from Step: its closure would otherwise be allocated on every call, which cost more than the update of a
    // head's hundred elements
    private static void StepInParallel(Span<float> parameters, Span<float> firstMoments, Span<float> secondMoments, ReadOnlySpan<float> gradients,
        in AdamWCoefficients c, int threads, int blocks)
    {
        var length = parameters.Length;
        unsafe
        {
            fixed (float* p = parameters, m = firstMoments, v = secondMoments, g = gradients)
            {
                var (pp, mp, vp, gp, coefficients) = ((nint)p, (nint)m, (nint)v, (nint)g, c);
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, block =>
                {
                    var start = block * BlockElements;
                    var count = Math.Min(BlockElements, length - start);
                    Apply(new Span<float>((float*)pp + start, count), new Span<float>((float*)mp + start, count),
                        new Span<float>((float*)vp + start, count), new ReadOnlySpan<float>((float*)gp + start, count), coefficients);
                });
            }
        }
    }

    private static void Apply(Span<float> p, Span<float> m, Span<float> v, ReadOnlySpan<float> g, in AdamWCoefficients c)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<float>.Count)
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var (beta1, oneMinusBeta1, beta2, oneMinusBeta2) = (new Vector<float>(c.Beta1), new Vector<float>(c.OneMinusBeta1), new Vector<float>(c.Beta2), new Vector<float>(c.OneMinusBeta2));
            var (correction2, epsilon, decay, stepSize) = (new Vector<float>(c.Correction2), new Vector<float>(c.Epsilon), new Vector<float>(c.Decay), new Vector<float>(c.StepSize));
            for (var k = 0; k < pv.Length; k++)
            {
                var gradient = gv[k];
                var first = mv[k] * beta1 + gradient * oneMinusBeta1;
                var second = vv[k] * beta2 + gradient * gradient * oneMinusBeta2;
                mv[k] = first;
                vv[k] = second;
                var denominator = Vector.SquareRoot(second / correction2) + epsilon;
                pv[k] = pv[k] * decay + stepSize * (first / denominator);
            }
            i = pv.Length * Vector<float>.Count;
        }
        for (; i < p.Length; i++)
        {
            var gradient = g[i];
            var first = m[i] * c.Beta1 + gradient * c.OneMinusBeta1;
            var second = v[i] * c.Beta2 + gradient * gradient * c.OneMinusBeta2;
            m[i] = first;
            v[i] = second;
            var denominator = MathF.Sqrt(second / c.Correction2) + c.Epsilon;
            p[i] = p[i] * c.Decay + c.StepSize * (first / denominator);
        }
    }
}
