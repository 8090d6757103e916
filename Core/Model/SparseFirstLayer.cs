using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The trunk's first layer as a sum of weight rows: a fingerprint row has ~40 of 2048 features set, so bias + the
/// rows of <c>W</c> [in × out] at its set features (each scaled by its value, for counts) costs a fiftieth of the
/// dense product. With autograd (a training step) the backward adds each row's output gradient into the weight rows
/// of its set features only, as SparseChem's sparse input layer does, instead of a dense [in × rows] · [rows × out]
/// product that writes the whole weight gradient from mostly zeros. Under no_grad (evaluation) no graph is kept.
/// </summary>
public sealed class SparseFirstLayer : IDisposable
{
    /// <summary>
    /// Above this fraction of non-zero inputs the dense product is used: it runs at the vector units' full rate,
    /// while the sum reads one weight row from memory per non-zero input. ECFP rows (~2%) stay well below it.
    /// </summary>
    public const double MaxDensity = 0.05;

    private readonly EmbeddingBag _bag;
    private readonly Tensor _bias;

    /// <summary>
    /// A layer over <paramref name="weight"/> [in × out] and <paramref name="bias"/> themselves: updates made to
    /// them in place are seen, and gradients reach them. Built once per trunk, since building the module costs
    /// more than a batch's forward.
    /// </summary>
    public SparseFirstLayer(Tensor weight, Tensor bias)
    {
        // not frozen: freezing would turn off the parameter's own requires_grad, which the module shares
        _bag = nn.EmbeddingBag_from_pretrained(weight, freeze: false, mode: EmbeddingBagMode.Sum);
        _bias = bias;
    }

    /// <summary>
    /// <paramref name="input"/> [rows × in] · weight + bias, summed over the non-zero inputs only; null when the
    /// input is too dense for that to pay. Call inside a dispose scope.
    /// </summary>
    public Tensor? TryApply(Tensor input)
    {
        var rows = input.shape[0];
        var present = input.ne(0.0);
        var nonZero = present.nonzero(); // [n × 2] (row, feature), row-major: each row's features in one run
        var n = nonZero.shape[0];
        if (n > MaxDensity * rows * input.shape[1]) return null;
        var features = nonZero.select(1, 1).contiguous();
        var perRow = present.sum(1, type: ScalarType.Int64);
        var offsets = perRow.cumsum(0).sub(perRow);
        var values = input.masked_select(present); // the same row-major order as nonzero's
        return _bag.forward(features, offsets, values).add_(_bias, Scalars.One); // in place: the bag's backward does not read its output
    }

    /// <summary>Bias + the weight rows at each row's non-zero features, scaled by their values. Call inside a dispose scope.</summary>
    public Tensor Apply(SparseRows rows) => _bag.forward(rows.Indices, rows.Offsets, rows.Values).add_(_bias, Scalars.One); // in place: the bag's backward does not read its output

    /// <summary>
    /// relu(<see cref="Apply"/>) under no_grad on host memory, [rows × out], computed here rather than by the
    /// embedding bag: a tile of 64 output columns is summed in vector registers over a row's set features and
    /// written once, with bias and relu; all rows of the slice go through one tile before the next, so the weight
    /// columns a tile reads (in × 256 bytes) stay in the core's cache instead of every row streaming the whole
    /// [in × out] weight from memory. Each element is summed by one thread in the row's feature order, so the
    /// result does not depend on the number of threads. Null where it does not apply (a device, other types, autograd).
    /// </summary>
    public unsafe Tensor? TryEvaluateOnHost(SparseRows rows)
    {
        var weight = _bag.weight!;
        if (is_grad_enabled() || !IsHost(weight, ScalarType.Float32) || !IsHost(_bias, ScalarType.Float32)
            || !IsHost(rows.Indices, ScalarType.Int64) || !IsHost(rows.Offsets, ScalarType.Int64)
            || rows.Values is { } v && !IsHost(v, ScalarType.Float32))
            return null;
        var (count, width) = ((int)rows.Rows, (int)weight.shape[1]);
        var output = empty([count, width]);
        if (count == 0) return output;
        var tiles = (width + TileColumns - 1) / TileColumns;
        var at = new HostRows(HostMemory.Address(weight), HostMemory.Address(_bias), HostMemory.Address(rows.Indices), HostMemory.Address(rows.Offsets),
            rows.Values is null ? 0 : HostMemory.Address(rows.Values), HostMemory.Address(output), width, count, rows.Indices.shape[0]);
        var rowBlocks = (count + RowsPerBlock - 1) / RowsPerBlock;
        var threads = Math.Min(get_num_threads(), tiles * rowBlocks);
        // tile-major: consecutive work items share a tile (its weight columns), each over a block of rows
        if (threads <= 1)
            for (var item = 0; item < tiles * rowBlocks; item++) SumTile(at, item / rowBlocks, item % rowBlocks);
        else
            Parallel.For(0, tiles * rowBlocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, item => SumTile(at, item / rowBlocks, item % rowBlocks));
        return output;
    }

    private const int TileColumns = 64; // eight 8-float vectors: the accumulators stay in registers
    private const int RowsPerBlock = 512;

    private readonly record struct HostRows(nint Weight, nint Bias, nint Indices, nint Offsets, nint Values, nint Output, int Width, int Rows, long Entries);

    private static unsafe void SumTile(in HostRows at, int tile, int rowBlock)
    {
        float* weight = (float*)at.Weight, bias = (float*)at.Bias, values = (float*)at.Values, output = (float*)at.Output;
        long* indices = (long*)at.Indices, offsets = (long*)at.Offsets;
        var (width, column) = (at.Width, tile * TileColumns);
        var columns = Math.Min(TileColumns, width - column);
        var (from, to) = (rowBlock * RowsPerBlock, Math.Min(at.Rows, (rowBlock + 1) * RowsPerBlock));
        for (var r = from; r < to; r++)
        {
            var (start, end) = (offsets[r], r + 1 < at.Rows ? offsets[r + 1] : at.Entries);
            var into = output + (long)r * width + column;
            if (columns == TileColumns) SumRow(weight + column, width, bias + column, indices, values, start, end, into);
            else
                for (var c = 0; c < columns; c++) // the last tile, narrower: a column at a time
                {
                    var sum = bias[column + c];
                    for (var k = start; k < end; k++)
                    {
                        var w = weight[indices[k] * width + column + c];
                        sum = values is null ? sum + w : MathF.FusedMultiplyAdd(values[k], w, sum);
                    }
                    into[c] = MathF.Max(sum, 0);
                }
        }
    }

    /// <summary>relu(bias + Σ value × weight row) over one tile's 64 columns, in eight vector registers.</summary>
    private static unsafe void SumRow(float* weight, int stride, float* bias, long* indices, float* values, long start, long end, float* into)
    {
        var (a0, a1, a2, a3) = (Vector256.Load(bias), Vector256.Load(bias + 8), Vector256.Load(bias + 16), Vector256.Load(bias + 24));
        var (a4, a5, a6, a7) = (Vector256.Load(bias + 32), Vector256.Load(bias + 40), Vector256.Load(bias + 48), Vector256.Load(bias + 56));
        for (var k = start; k < end; k++)
        {
            var w = weight + indices[k] * stride;
            if (values is null)
            {
                (a0, a1, a2, a3) = (a0 + Vector256.Load(w), a1 + Vector256.Load(w + 8), a2 + Vector256.Load(w + 16), a3 + Vector256.Load(w + 24));
                (a4, a5, a6, a7) = (a4 + Vector256.Load(w + 32), a5 + Vector256.Load(w + 40), a6 + Vector256.Load(w + 48), a7 + Vector256.Load(w + 56));
            }
            else
            {
                var x = Vector256.Create(values[k]);
                (a0, a1, a2, a3) = (Vector256.FusedMultiplyAdd(x, Vector256.Load(w), a0), Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 8), a1),
                    Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 16), a2), Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 24), a3));
                (a4, a5, a6, a7) = (Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 32), a4), Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 40), a5),
                    Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 48), a6), Vector256.FusedMultiplyAdd(x, Vector256.Load(w + 56), a7));
            }
        }
        var zero = Vector256<float>.Zero;
        Vector256.Max(a0, zero).Store(into); Vector256.Max(a1, zero).Store(into + 8);
        Vector256.Max(a2, zero).Store(into + 16); Vector256.Max(a3, zero).Store(into + 24);
        Vector256.Max(a4, zero).Store(into + 32); Vector256.Max(a5, zero).Store(into + 40);
        Vector256.Max(a6, zero).Store(into + 48); Vector256.Max(a7, zero).Store(into + 56);
    }

    private static bool IsHost(Tensor t, ScalarType type) => t.device_type == DeviceType.CPU && t.dtype == type && t.is_contiguous();

    public void Dispose() => _bag.Dispose();
}
