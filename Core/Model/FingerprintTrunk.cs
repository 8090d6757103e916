using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The fingerprint trunk: Linear → ReLU → dropout for each hidden layer, on a molecule's count fingerprint and
/// descriptors. Parameters are plain tensors (weights stored [in × out]) so that they can be loaded from the wire,
/// reduced and checkpointed without a module tree. Its rows are <see cref="DeviceFeatures"/>.
/// </summary>
public sealed class FingerprintTrunk : ITrunk
{
    private readonly List<Tensor> _parameters = [];
    private SparseFirstLayer? _firstLayer;

    /// <summary>The first layer's weight and bias as a sum of weight rows (built at first use, kept: it shares them).</summary>
    private SparseFirstLayer FirstLayer => _firstLayer ??= new SparseFirstLayer(_parameters[0], _parameters[1]);

    public TrunkKind Kind => TrunkKind.Fingerprint;
    public int InputSize { get; }
    public int[] Layers { get; }
    public int OutputSize => Layers[^1];
    public IReadOnlyList<Tensor> Parameters => _parameters;

    /// <summary>
    /// The type the layers compute in: Float32, or BFloat16 (a manual autocast: each layer's input, weight and bias
    /// are cast down, the parameters stay float32 and receive float32 gradients through the casts).
    /// </summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>Training dropout after each layer, and of the input features (inverted dropout, batch-wide masks).</summary>
    public double LayerDropout { get; init; }
    public double InputDropout { get; init; }

    public FingerprintTrunk(int inputSize, int[] layers, long seed, Device device)
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

    public ITrunkRows Store(MoleculeInputs inputs, IReadOnlyList<int> rows, Device device)
    {
        if (inputs.FeatureSize != InputSize) throw new ArgumentException($"rows of {inputs.FeatureSize} features for a trunk of {InputSize} inputs");
        return DeviceFeatures.Create(inputs.Features, rows, inputs.FeatureSize, device);
    }

    /// <summary>
    /// A training batch: the input's mask is drawn first, then the layers' (with no input dropout the layers' masks
    /// are those of before it existed). On host-stored fingerprints the first layer sums the weight rows of the set
    /// features, forward and backward (<see cref="SparseFirstLayer"/>).
    /// </summary>
    public Tensor Forward(ITrunkRows rows, IReadOnlyList<long> positions, BatchDropout? dropout)
    {
        var features = (DeviceFeatures)rows;
        var device = _parameters[0].device;
        var inputMask = dropout is null ? null : Dropout.Masks(InputDropout, dropout.Generator, device, dropout.BatchRows, [InputSize], dropout.Rows)?[0];
        var masks = dropout is null ? null : Dropout.Masks(LayerDropout, dropout.Generator, device, dropout.BatchRows, Layers, dropout.Rows);
        var sparse = ComputeType == ScalarType.Float32 ? features.NonZeroRows(positions) : null;
        if (sparse is { Density: <= SparseFirstLayer.MaxDensity })
            return Forward(inputMask is null ? sparse : sparse.Masked(inputMask), masks);
        var dense = features.Rows(tensor(positions.ToArray(), device: device));
        return Forward(inputMask is null ? dense : dense.mul(inputMask), masks);
    }

    /// <summary>Trunk outputs for every row, without dropout or autograd (sparse first layer where it pays), in chunks to bound memory.</summary>
    public Tensor Embed(ITrunkRows rows)
    {
        var features = (DeviceFeatures)rows;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var count = features.RowCount;
        var device = _parameters[0].device;
        if (count == 0) return zeros([0, OutputSize], device: device).MoveToOuterDisposeScope();
        var embeddings = empty([count, OutputSize], device: device);
        for (long start = 0; start < count; start += Inference.ChunkRows)
        {
            using var chunkScope = NewDisposeScope();
            var length = Math.Min(Inference.ChunkRows, count - start);
            // host-stored fingerprints: their set features read straight from the packed rows
            var sparse = ComputeType == ScalarType.Float32 ? features.NonZeroSlice(start, length) : null;
            embeddings.narrow(0, start, length).copy_(sparse is { Density: <= SparseFirstLayer.MaxDensity }
                ? Evaluate(sparse) : Evaluate(features.Slice(start, length)));
        }
        return embeddings.MoveToOuterDisposeScope();
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
        if (is_grad_enabled()) throw new InvalidOperationException("FingerprintTrunk.Evaluate is for forward passes under no_grad");
        // dense rows sparse enough take the path of stored sparse rows: a row's embedding does not depend on the form
        // its worker keeps the features in (codes, or float32 when a worker's rows hold too many distinct values)
        var sparse = ComputeType == ScalarType.Float32 ? SparseFirstLayer.NonZeroRowsOf(input) : null;
        return sparse is null ? Forward(input) : Evaluate(sparse);
    }

    /// <summary><see cref="Evaluate(Tensor)"/> of rows given by their non-zero features (<see cref="DeviceFeatures.NonZeroSlice"/>).</summary>
    public Tensor Evaluate(SparseRows rows)
    {
        if (is_grad_enabled()) throw new InvalidOperationException("FingerprintTrunk.Evaluate is for forward passes under no_grad");
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
