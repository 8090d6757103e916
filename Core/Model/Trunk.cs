using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The shared trunk: Linear → ReLU → dropout for each hidden layer. Parameters are plain tensors (weights stored
/// [in × out]) so that they can be loaded from the wire, reduced and checkpointed without a module tree.
/// </summary>
public sealed class Trunk : IDisposable
{
    private readonly List<Tensor> _parameters = [];
    private SparseFirstLayer? _firstLayer;

    /// <summary>The first layer's weight and bias as a sum of weight rows (built at first use, kept: it shares them).</summary>
    private SparseFirstLayer FirstLayer => _firstLayer ??= new SparseFirstLayer(_parameters[0], _parameters[1]);

    public int InputSize { get; }
    public int[] Layers { get; }
    public int OutputSize => Layers[^1];
    public IReadOnlyList<Tensor> Parameters => _parameters;

    /// <summary>
    /// The type the layers compute in: Float32, or BFloat16 (a manual autocast: each layer's input, weight and bias
    /// are cast down, the parameters stay float32 and receive float32 gradients through the casts).
    /// </summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    public Trunk(int inputSize, int[] layers, long seed, Device device)
    {
        InputSize = inputSize;
        Layers = layers;
        using var generator = new Generator(checked((ulong)seed));
        var fanIn = inputSize;
        foreach (var size in layers)
        {
            _parameters.Add(SeededInit.Uniform([fanIn, size], fanIn, generator, device));
            _parameters.Add(SeededInit.Uniform([size], fanIn, generator, device));
            fanIn = size;
        }
    }

    public static string ParameterName(int index) => $"trunk.{index / 2}.{(index % 2 == 0 ? "weight" : "bias")}";

    /// <summary>
    /// Forward pass; with <paramref name="dropout"/> masks (training: one per layer, already scaled, see
    /// <see cref="Dropout.Masks"/>), none in evaluation. The output is float32 whatever <see cref="ComputeType"/>
    /// (heads and loss stay float32). Call inside a dispose scope: intermediate tensors are left to it.
    /// </summary>
    public Tensor Forward(Tensor input, IReadOnlyList<Tensor>? dropout = null) => LayersFrom(0, input.to(ComputeType), dropout);

    /// <summary>
    /// <see cref="Forward(Tensor, IReadOnlyList{Tensor}?)"/> of rows given by their non-zero features, with autograd:
    /// the first layer sums weight rows (<see cref="SparseFirstLayer"/>), so its forward and backward cost in
    /// proportion to the set features, not to rows × inputs. Float32 only. Call inside a dispose scope.
    /// </summary>
    public Tensor Forward(SparseRows rows, IReadOnlyList<Tensor>? dropout = null)
    {
        if (ComputeType != ScalarType.Float32) throw new InvalidOperationException("the sparse first layer computes in float32");
        if (rows.Size != InputSize) throw new ArgumentException($"rows of {rows.Size} features for a trunk of {InputSize} inputs");
        var x = FirstLayer.Apply(rows).relu();
        if (dropout is not null) x = x.mul(dropout[0]);
        return LayersFrom(1, x, dropout);
    }

    /// <summary>Layers <paramref name="from"/>.. on <paramref name="x"/> (in <see cref="ComputeType"/>); float32 out.</summary>
    private Tensor LayersFrom(int from, Tensor x, IReadOnlyList<Tensor>? dropout)
    {
        for (var layer = from; layer < Layers.Length; layer++)
        {
            x = addmm(_parameters[2 * layer + 1].to(ComputeType), x, _parameters[2 * layer].to(ComputeType), 1, 1).relu(); // one fused op, as Linear
            if (dropout is not null) x = x.mul(dropout[layer].to(ComputeType));
        }
        return x.to(ScalarType.Float32);
    }

    /// <summary>
    /// Evaluation forward (no dropout) of <paramref name="input"/> under <c>no_grad</c>: the first layer sums the
    /// weight rows of each row's non-zero features where they are sparse enough (<see cref="SparseFirstLayer"/>),
    /// which gives <see cref="Forward"/>'s outputs up to float summation order. Call inside a dispose scope.
    /// </summary>
    public Tensor Evaluate(Tensor input)
    {
        if (is_grad_enabled()) throw new InvalidOperationException("Trunk.Evaluate is for forward passes under no_grad");
        // dense rows sparse enough take the path of stored sparse rows: a row's embedding does not depend on the form
        // its worker keeps the features in (codes, or float32 when a worker's rows hold too many distinct values)
        var sparse = ComputeType == ScalarType.Float32 ? SparseFirstLayer.NonZeroRowsOf(input) : null;
        return sparse is null ? Forward(input) : Evaluate(sparse);
    }

    /// <summary><see cref="Evaluate(Tensor)"/> of rows given by their non-zero features (<see cref="DeviceFeatures.NonZeroSlice"/>).</summary>
    public Tensor Evaluate(SparseRows rows)
    {
        if (is_grad_enabled()) throw new InvalidOperationException("Trunk.Evaluate is for forward passes under no_grad");
        if (rows.Size != InputSize) throw new ArgumentException($"rows of {rows.Size} features for a trunk of {InputSize} inputs");
        return Above(FirstLayer.Apply(rows).relu_());
    }

    /// <summary>
    /// The layers above the first, from the first layer's activations (under no_grad the activations are applied in
    /// place, sparing a pass and an allocation of [rows × width] per layer).
    /// </summary>
    private Tensor Above(Tensor first)
    {
        var x = first;
        for (var layer = 1; layer < Layers.Length; layer++)
            x = addmm(_parameters[2 * layer + 1], x, _parameters[2 * layer], 1, 1).relu_();
        return x;
    }

    public TensorData[] Export() => _parameters.Select((p, i) => TensorCodec.Encode(ParameterName(i), p)).ToArray();

    public void Load(IReadOnlyList<TensorData> parameters)
    {
        if (parameters.Count != _parameters.Count)
            throw new InvalidDataException($"trunk: {parameters.Count} tensors received, {_parameters.Count} expected");
        for (var i = 0; i < parameters.Count; i++) TensorCodec.CopyInto(parameters[i], _parameters[i]);
    }

    public void Dispose()
    {
        _firstLayer?.Dispose();
        _firstLayer = null;
        foreach (var p in _parameters) p.Dispose();
        _parameters.Clear();
    }
}

public static class Dropout
{
    /// <summary>
    /// Inverted-dropout masks (0 or 1/(1-p)) of a whole batch of <paramref name="batchRows"/>, one per layer, drawn
    /// from <paramref name="generator"/>, then cut to the rows at <paramref name="rows"/> (positions in the batch).
    /// Every worker draws the same batch's masks and takes its own rows, so a row's mask does not depend on which
    /// worker computes it, nor on how many there are. Null when p is 0. Call inside a dispose scope.
    /// </summary>
    public static Tensor[]? Masks(double p, Generator generator, Device device, long batchRows, IReadOnlyList<int> widths, Tensor? rows = null)
    {
        if (p <= 0) return null;
        using var dropProbability = p.ToScalar();
        using var keepScale = (1.0 / (1.0 - p)).ToScalar();
        return widths.Select(width =>
        {
            var mask = rand([batchRows, width], ScalarType.Float32, device, generator: generator);
            if (rows is not null) mask = mask.index_select(0, rows);
            return mask.ge(dropProbability).to(ScalarType.Float32).mul_(keepScale);
        }).ToArray();
    }
}
