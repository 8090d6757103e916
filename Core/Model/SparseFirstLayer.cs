using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The trunk's first layer as a sum of weight rows: a fingerprint row has ~40 of 2048 features set, so bias + the
/// rows of <c>W</c> [in × out] at its set features (each scaled by its value, for counts) costs a fiftieth of the
/// dense product. Only for forward passes without autograd (evaluation, the frozen trunk of a head epoch).
/// </summary>
public static class SparseFirstLayer
{
    /// <summary>
    /// Above this fraction of non-zero inputs the dense product is used: it runs at the vector units' full rate,
    /// while the sum reads one weight row from memory per non-zero input. ECFP rows (~2%) stay well below it.
    /// </summary>
    public const double MaxDensity = 0.05;

    /// <summary>
    /// <paramref name="input"/> [rows × in] · <paramref name="weight"/> [in × out] + <paramref name="bias"/>, summed
    /// over the non-zero inputs only; null when the input is too dense for that to pay. Call inside a dispose scope.
    /// </summary>
    public static Tensor? TryApply(Tensor input, Tensor weight, Tensor bias)
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
        return Apply(weight, bias, features, offsets, values);
    }

    /// <summary>Bias + the weight rows at <paramref name="features"/> (bags starting at <paramref name="offsets"/>), scaled by <paramref name="values"/> (null: 1).</summary>
    public static Tensor Apply(Tensor weight, Tensor bias, Tensor features, Tensor offsets, Tensor? values)
    {
        // an alias: the module's freeze would otherwise turn off the trunk parameter's own requires_grad
        using var alias = weight.detach();
        using var bag = nn.EmbeddingBag_from_pretrained(alias, freeze: true, mode: EmbeddingBagMode.Sum);
        return bag.forward(features, offsets, values).add(bias, Scalars.One);
    }
}
