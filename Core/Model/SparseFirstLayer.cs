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
    /// The non-zero entries of dense rows <paramref name="input"/> [rows × in], row by row in feature order (as the
    /// stored rows give them: the sums come out the same whichever form the features were kept in); null when more
    /// than <see cref="MaxDensity"/> of them are non-zero. Call inside a dispose scope.
    /// </summary>
    public static SparseRows? NonZeroRowsOf(Tensor input)
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
        return new SparseRows(features, offsets, values, rows, (int)input.shape[1]);
    }

    /// <summary>Bias + the weight rows at each row's non-zero features, scaled by their values. Call inside a dispose scope.</summary>
    public Tensor Apply(SparseRows rows) => _bag.forward(rows.Indices, rows.Offsets, rows.Values).add_(_bias, Scalars.One); // in place: the bag's backward does not read its output

    public void Dispose() => _bag.Dispose();
}
