using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov and Hutter). Written out rather than taken from torch.optim so
/// that gradients can come from elsewhere (the coordinator's reduced trunk gradient) and the moment estimates
/// are plain tensors a checkpoint can hold.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<Tensor> _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly double _learningRate, _weightDecay, _beta1, _beta2, _epsilonValue;
    // Scalars made explicitly and disposed by us: TorchSharp's implicit double → Scalar conversions leave native
    // handles to the finalizer, which under GC pressure freed one mid-call ("Unknown scalar type").
    private readonly Scalar _beta1Scalar, _oneMinusBeta1, _beta2Scalar, _oneMinusBeta2, _epsilon;

    public long StepCount { get; private set; }

    public AdamW(IReadOnlyList<Tensor> parameters, double learningRate, double weightDecay,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        _parameters = parameters;
        _learningRate = learningRate;
        _weightDecay = weightDecay;
        _beta1 = beta1;
        _beta2 = beta2;
        _beta1Scalar = beta1.ToScalar();
        _oneMinusBeta1 = (1 - beta1).ToScalar();
        _beta2Scalar = beta2.ToScalar();
        _oneMinusBeta2 = (1 - beta2).ToScalar();
        _epsilon = epsilon.ToScalar();
        _epsilonValue = epsilon;
        _firstMoments = parameters.Select(p => zeros_like(p).detach()).ToArray();
        _secondMoments = parameters.Select(p => zeros_like(p).detach()).ToArray();
    }

    /// <summary>One step from the parameters' own .grad (local training).</summary>
    public void Step() => Step(_parameters.Select(p => p.grad ?? throw new InvalidOperationException("parameter has no gradient")).ToArray());

    /// <summary>One step from explicit gradients, in parameter order.</summary>
    public void Step(IReadOnlyList<Tensor> gradients)
    {
        if (gradients.Count != _parameters.Count) throw new ArgumentException($"{gradients.Count} gradients for {_parameters.Count} parameters");
        var c = NextStep();
        using var _ = no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            if (OnHost(_parameters[i]) && OnHost(gradients[i]))
                FusedAdamW.Step(Elements(_parameters[i]), Elements(_firstMoments[i]), Elements(_secondMoments[i]), Elements(gradients[i]), c, get_num_threads());
            else
                TensorStep(_parameters[i], _firstMoments[i], _secondMoments[i], gradients[i], c);
        }
    }

    /// <summary>Elements of all parameters, in parameter order (the flat order of <see cref="StepElements"/>).</summary>
    public long ElementCount => _parameters.Sum(p => p.numel());

    /// <summary>
    /// One step of the elements [<paramref name="start"/>, start + gradient length) of the parameters' flat order
    /// only, from their gradient: a data-parallel worker's share of a sharded optimizer step (the other elements,
    /// and their moments, are other workers' to step). Counts as a whole step.
    /// </summary>
    public void StepElements(long start, ReadOnlySpan<float> gradient)
    {
        var c = NextStep();
        using var _ = no_grad();
        foreach (var (i, at, from, count) in FlatRange.Pieces(_parameters, start, gradient.Length))
        {
            var g = gradient.Slice(from, count);
            if (OnHost(_parameters[i]))
                FusedAdamW.Step(Elements(_parameters[i]).Slice((int)at, count), Elements(_firstMoments[i]).Slice((int)at, count),
                    Elements(_secondMoments[i]).Slice((int)at, count), g, c, get_num_threads());
            else
            {
                using var scope = NewDisposeScope();
                var device = _parameters[i].device;
                var gradientPart = tensor(g.ToArray(), device: device);
                TensorStep(Part(_parameters[i], at, count), Part(_firstMoments[i], at, count), Part(_secondMoments[i], at, count), gradientPart, c);
            }
        }
    }

    /// <summary>The moments of the elements [start, start + length) of the flat order, into <paramref name="first"/> and <paramref name="second"/>.</summary>
    public void CopyMomentsTo(long start, Span<float> first, Span<float> second)
    {
        FlatRange.CopyTo(_firstMoments, start, first);
        FlatRange.CopyTo(_secondMoments, start, second);
    }

    /// <summary>The reverse of <see cref="CopyMomentsTo"/>.</summary>
    public void CopyMomentsFrom(long start, ReadOnlySpan<float> first, ReadOnlySpan<float> second)
    {
        FlatRange.CopyFrom(first, _firstMoments, start);
        FlatRange.CopyFrom(second, _secondMoments, start);
    }

    private AdamWCoefficients NextStep()
    {
        StepCount++;
        return AdamWCoefficients.For(StepCount, _learningRate, _weightDecay, _beta1, _beta2, _epsilonValue);
    }

    private static bool OnHost(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous();

    private static Span<float> Elements(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    private static Tensor Part(Tensor t, long at, int count) => t.view(-1).narrow(0, at, count);

    /// <summary>The same arithmetic as <see cref="FusedAdamW"/> in tensor ops, for parameters on a GPU.</summary>
    private void TensorStep(Tensor p, Tensor m, Tensor v, Tensor g, in AdamWCoefficients c)
    {
        using var scope = NewDisposeScope();
        using var correction2 = ((double)c.Correction2).ToScalar();
        using var decay = ((double)c.Decay).ToScalar();
        using var stepSize = ((double)c.StepSize).ToScalar();
        m.mul_(_beta1Scalar).add_(g, alpha: _oneMinusBeta1);
        v.mul_(_beta2Scalar).addcmul_(g, g, value: _oneMinusBeta2);
        if (_weightDecay > 0) p.mul_(decay);
        var denominator = v.div(correction2).sqrt_().add_(_epsilon);
        p.addcdiv_(m, denominator, value: stepSize);
    }

    /// <summary>The moment estimates as they travel and are checkpointed: first moments, then second moments, in parameter order.</summary>
    public TensorData[] ExportMoments() =>
        _firstMoments.Select((m, i) => TensorCodec.Encode($"adam.m.{i}", m))
            .Concat(_secondMoments.Select((v, i) => TensorCodec.Encode($"adam.v.{i}", v))).ToArray();

    /// <summary>Continues from exported moments and step count (a resumed run, or tasks moved from another worker).</summary>
    public void ImportMoments(IReadOnlyList<TensorData> moments, long stepCount)
    {
        if (moments.Count != 2 * _parameters.Count)
            throw new InvalidDataException($"optimizer state: {moments.Count} tensors for {_parameters.Count} parameters");
        for (var i = 0; i < _parameters.Count; i++)
        {
            TensorCodec.CopyInto(moments[i], _firstMoments[i]);
            TensorCodec.CopyInto(moments[_parameters.Count + i], _secondMoments[i]);
        }
        StepCount = stepCount;
    }

    public void Dispose()
    {
        foreach (var t in _firstMoments.Concat(_secondMoments)) t.Dispose();
        foreach (var s in new[] { _beta1Scalar, _oneMinusBeta1, _beta2Scalar, _oneMinusBeta2, _epsilon }) s.Dispose();
    }
}
