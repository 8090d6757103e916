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
    private readonly double _learningRate, _weightDecay, _beta1, _beta2;
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
        _firstMoments = parameters.Select(p => zeros_like(p).detach()).ToArray();
        _secondMoments = parameters.Select(p => zeros_like(p).detach()).ToArray();
    }

    /// <summary>One step from the parameters' own .grad (local training).</summary>
    public void Step() => Step(_parameters.Select(p => p.grad ?? throw new InvalidOperationException("parameter has no gradient")).ToArray());

    /// <summary>One step from explicit gradients, in parameter order.</summary>
    public void Step(IReadOnlyList<Tensor> gradients)
    {
        if (gradients.Count != _parameters.Count) throw new ArgumentException($"{gradients.Count} gradients for {_parameters.Count} parameters");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        StepCount++;
        var correction1 = 1 - Math.Pow(_beta1, StepCount);
        using var correction2 = (1 - Math.Pow(_beta2, StepCount)).ToScalar();
        using var decay = (1 - _learningRate * _weightDecay).ToScalar();
        using var stepSize = (-_learningRate / correction1).ToScalar();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            var g = gradients[i];
            _firstMoments[i].mul_(_beta1Scalar).add_(g, alpha: _oneMinusBeta1);
            _secondMoments[i].mul_(_beta2Scalar).addcmul_(g, g, value: _oneMinusBeta2);
            if (_weightDecay > 0) p.mul_(decay);
            var denominator = _secondMoments[i].div(correction2).sqrt_().add_(_epsilon);
            p.addcdiv_(_firstMoments[i], denominator, value: stepSize);
        }
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
