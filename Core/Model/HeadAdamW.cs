using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// AdamW for a <see cref="HeadBlock"/> that updates only the heads a batch has labels for (lazy Adam, as for
/// embedding tables): with thousands of tasks a batch touches a few hundred, so a step costs what it touches. The
/// moments of untouched heads are left as they are, and each head counts its own steps, so its bias correction is
/// what it would be had it been trained alone. Weight decay is decoupled and applied to a head when it is stepped,
/// once per step of that head: a head no batch touches is neither moved nor shrunk. Where every head is touched,
/// the step is <see cref="AdamW"/>'s.
/// </summary>
public sealed class HeadAdamW : IDisposable
{
    private readonly HeadBlock _heads;
    private readonly Tensor _weightFirst, _biasFirst, _weightSecond, _biasSecond;
    /// <summary>Steps taken by each head, float64 on the heads' device (bias corrections are computed there).</summary>
    private readonly Tensor _steps;
    private readonly double _learningRate, _weightDecay, _beta1Value, _beta2Value, _epsilonValue;
    // made and disposed here: TorchSharp's implicit double → Scalar conversions leave native handles to the finalizer (see AdamW)
    private readonly Scalar _beta1, _oneMinusBeta1, _logBeta1, _beta2, _oneMinusBeta2, _logBeta2, _epsilon, _decay, _negativeRate;

    public HeadAdamW(HeadBlock heads, double learningRate, double weightDecay, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        _heads = heads;
        (_learningRate, _weightDecay, _beta1Value, _beta2Value, _epsilonValue) = (learningRate, weightDecay, beta1, beta2, epsilon);
        (_beta1, _oneMinusBeta1, _logBeta1) = (beta1.ToScalar(), (1 - beta1).ToScalar(), Math.Log(beta1).ToScalar());
        (_beta2, _oneMinusBeta2, _logBeta2) = (beta2.ToScalar(), (1 - beta2).ToScalar(), Math.Log(beta2).ToScalar());
        (_epsilon, _decay, _negativeRate) = (epsilon.ToScalar(), (1 - learningRate * weightDecay).ToScalar(), (-learningRate).ToScalar());
        // a row per head, as in the block: a step reads and writes whole rows
        _weightFirst = zeros_like(heads.Rows).detach();
        _weightSecond = zeros_like(heads.Rows).detach();
        _biasFirst = zeros_like(heads.Bias).detach();
        _biasSecond = zeros_like(heads.Bias).detach();
        _steps = zeros(heads.Bias.shape[0], ScalarType.Float64, heads.Bias.device);
    }

    /// <summary>One step of the heads of <paramref name="slice"/> from the gradients left on its weight and bias.</summary>
    public void Step(HeadSlice slice)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        if (OnHost(slice) && BeginHostStep() is { } heads)
        {
            StepOnHost(slice, heads);
            return;
        }
        var columns = slice.Columns;
        var steps = _steps.index_select(0, columns).add_(Scalars.One);
        _steps.index_copy_(0, columns, steps);
        // per head: 1 - β^t, as float32 like the parameters
        var correction1 = steps.mul(_logBeta1).exp_().neg_().add_(Scalars.One).to(ScalarType.Float32);
        var correction2 = steps.mul(_logBeta2).exp_().neg_().add_(Scalars.One).to(ScalarType.Float32);
        var stepSize = correction1.reciprocal_().mul_(_negativeRate);
        Update(_heads.Rows, slice.Rows, _weightFirst, _weightSecond, columns, stepSize.unsqueeze(1), correction2.unsqueeze(1));
        Update(_heads.Bias, slice.Bias, _biasFirst, _biasSecond, columns, stepSize, correction2);
    }

    /// <summary>
    /// The same step on host memory: head by head, one pass over its row with <see cref="FusedAdamW"/> and that
    /// head's own bias corrections (a batch touches hundreds of heads of ~100 floats: a loop, not ~25 tensor ops).
    /// </summary>
    private unsafe void StepOnHost(HeadSlice slice, HostHeads heads)
    {
        var columns = MemoryMarshal.Cast<byte, long>(slice.Columns.bytes);
        var count = columns.Length;
        var hidden = heads.Hidden;
        // blocks of heads on the compute threads: each head's update is its own, so the result is the same on any number
        var blocks = (columns.Length + HeadsPerBlock - 1) / HeadsPerBlock;
        var threads = Math.Min(get_num_threads(), blocks);
        fixed (long* headsAt = columns)
        fixed (float* weightGradient = Elements(slice.Rows.grad!), biasGradient = Elements(slice.Bias.grad!))
        {
            var (at, weights, biases) = ((nint)headsAt, (nint)weightGradient, (nint)biasGradient);
            if (threads <= 1) StepHeads(0, count);
            else
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads },
                    block => StepHeads(block * HeadsPerBlock, Math.Min(count, (block + 1) * HeadsPerBlock)));

            void StepHeads(int from, int to)
            {
                for (var k = from; k < to; k++)
                    StepHead(heads, (int)((long*)at)[k], new ReadOnlySpan<float>((float*)weights + (long)k * hidden, hidden), ((float*)biases)[k]);
            }
        }
    }

    /// <summary>Heads a thread steps at a time.</summary>
    private const int HeadsPerBlock = 256;

    /// <summary>
    /// Where the block's heads and this optimizer's moments and step counts are on host memory (they are allocated
    /// once, so the addresses hold while both live), for <see cref="StepHead"/>.
    /// </summary>
    public readonly record struct HostHeads(nint Steps, nint Weights, nint WeightFirst, nint WeightSecond, nint Biases, nint BiasFirst, nint BiasSecond,
        int Hidden, AdamWCoefficients[] ByStep);

    /// <summary>
    /// Each step number's coefficients (entry t − 1 for step t), computed once: two powers per head and step were a
    /// third of a host step's update at 10,000 tasks. Grown before a step to the most steps a head can have taken
    /// by its end, up to <see cref="CoefficientsKept"/>; later steps compute theirs.
    /// </summary>
    private AdamWCoefficients[] _byStep = [];

    /// <summary>An upper bound on any head's step count after the next step: optimizer steps begun, or the most imported.</summary>
    private long _stepBound;

    private const int CoefficientsKept = 1 << 16;

    /// <summary>
    /// Begins a step on host memory: counts it (for the coefficients kept) and returns the addresses for
    /// <see cref="StepHead"/>; null, counting nothing, where the heads or moments are not float32 on host memory.
    /// </summary>
    public HostHeads? BeginHostStep() => BeginHostSteps(1);

    /// <summary><see cref="BeginHostStep"/> for <paramref name="steps"/> steps to come (a head-major epoch: each head steps at most once in each).</summary>
    public unsafe HostHeads? BeginHostSteps(int steps)
    {
        if (!_steps.is_contiguous() || _steps.device_type != DeviceType.CPU
            || !new[] { _heads.Rows, _heads.Bias, _weightFirst, _weightSecond, _biasFirst, _biasSecond }.All(IsHostFloat))
            return null;
        _stepBound += steps;
        var kept = (int)Math.Min(_stepBound, CoefficientsKept);
        if (_byStep.Length < kept)
        {
            var grown = new AdamWCoefficients[Math.Min(CoefficientsKept, Math.Max(kept, 2 * _byStep.Length))];
            _byStep.CopyTo(grown, 0);
            for (var t = _byStep.Length; t < grown.Length; t++) grown[t] = Coefficients(t + 1);
            _byStep = grown;
        }
        return new HostHeads(HostMemory.Address(_steps), HostMemory.Address(_heads.Rows), HostMemory.Address(_weightFirst), HostMemory.Address(_weightSecond),
            HostMemory.Address(_heads.Bias), HostMemory.Address(_biasFirst), HostMemory.Address(_biasSecond), (int)_heads.Rows.shape[1], _byStep);
    }

    /// <summary>
    /// One step of head <paramref name="head"/> (a row of the block) from its gradient, in one pass over its row with
    /// its own bias corrections. Safe on several threads at once for different heads.
    /// </summary>
    public unsafe void StepHead(in HostHeads at, int head, ReadOnlySpan<float> weightGradient, float biasGradient)
    {
        var hidden = at.Hidden;
        var step = (long)++((double*)at.Steps)[head];
        var c = step <= at.ByStep.Length ? at.ByStep[step - 1] : Coefficients(step);
        var row = (long)head * hidden;
        FusedAdamW.Step(new Span<float>((float*)at.Weights + row, hidden), new Span<float>((float*)at.WeightFirst + row, hidden),
            new Span<float>((float*)at.WeightSecond + row, hidden), weightGradient, c, threads: 1);
        FusedAdamW.Step(new Span<float>((float*)at.Biases + head, 1), new Span<float>((float*)at.BiasFirst + head, 1),
            new Span<float>((float*)at.BiasSecond + head, 1), new ReadOnlySpan<float>(&biasGradient, 1), c, threads: 1);
    }

    private AdamWCoefficients Coefficients(long step) => AdamWCoefficients.For(step, _learningRate, _weightDecay, _beta1Value, _beta2Value, _epsilonValue);

    private static bool OnHost(HeadSlice slice) =>
        slice.Columns.device_type == DeviceType.CPU && slice.Columns.dtype == ScalarType.Int64 && slice.Columns.is_contiguous() &&
        slice.Rows.grad is { } w && IsHostFloat(w) && slice.Bias.grad is { } b && IsHostFloat(b);

    private static bool IsHostFloat(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous();

    private static Span<float> Elements(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    /// <summary>The AdamW update of the heads <paramref name="columns"/> (rows of <paramref name="parameter"/>); per-head factors broadcast along a row.</summary>
    private void Update(Tensor parameter, Tensor sliced, Tensor first, Tensor second, Tensor columns, Tensor stepSize, Tensor correction2)
    {
        var g = sliced.grad ?? throw new InvalidOperationException("head slice has no gradient");
        var m = first.index_select(0, columns).mul_(_beta1).add_(g, alpha: _oneMinusBeta1);
        var v = second.index_select(0, columns).mul_(_beta2).addcmul_(g, g, value: _oneMinusBeta2);
        first.index_copy_(0, columns, m);
        second.index_copy_(0, columns, v);
        var p = sliced.detach().clone();
        if (_weightDecay > 0) p.mul_(_decay);
        var denominator = v.div(correction2).sqrt_().add_(_epsilon);
        p.add_(m.mul(stepSize).div_(denominator));
        parameter.index_copy_(0, columns, p);
    }

    /// <summary>Steps taken by each head, in column order.</summary>
    public long[] HeadSteps() => _steps.cpu().data<double>().Select(s => (long)s).ToArray();

    /// <summary>The moments as they travel and are checkpointed (weight moments [hidden × tasks]): first moments, then second moments.</summary>
    public TensorData[] ExportMoments()
    {
        using var first = _weightFirst.t();
        using var second = _weightSecond.t();
        return
        [
            TensorCodec.Encode("adam.m.0", first), TensorCodec.Encode("adam.m.1", _biasFirst),
            TensorCodec.Encode("adam.v.0", second), TensorCodec.Encode("adam.v.1", _biasSecond),
        ];
    }

    /// <summary>Continues from exported moments and each head's step count (a resumed run, or tasks moved from another worker).</summary>
    public void ImportMoments(IReadOnlyList<TensorData> moments, IReadOnlyList<long> headSteps)
    {
        if (moments.Count != 4) throw new InvalidDataException($"head optimizer state: {moments.Count} tensors, 4 expected");
        if (headSteps.Count != _steps.shape[0]) throw new InvalidDataException($"head optimizer state: step counts for {headSteps.Count} heads, {_steps.shape[0]} expected");
        using var first = _weightFirst.t();
        using var second = _weightSecond.t();
        TensorCodec.CopyInto(moments[0], first);
        TensorCodec.CopyInto(moments[1], _biasFirst);
        TensorCodec.CopyInto(moments[2], second);
        TensorCodec.CopyInto(moments[3], _biasSecond);
        _stepBound = Math.Max(_stepBound, headSteps.Count == 0 ? 0 : headSteps.Max());
        using var steps = tensor(headSteps.Select(s => (double)s).ToArray());
        using (no_grad()) _steps.copy_(steps);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _weightFirst, _biasFirst, _weightSecond, _biasSecond, _steps }) t.Dispose();
        foreach (var s in new[] { _beta1, _oneMinusBeta1, _logBeta1, _beta2, _oneMinusBeta2, _logBeta2, _epsilon, _decay, _negativeRate }) s.Dispose();
    }
}
