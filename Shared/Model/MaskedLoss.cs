using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// Labels of a batch of rows × tasks: targets with missing entries zero-filled, a 0/1 mask of the labelled ones,
/// and per-entry weights (mask × positive weighting). A missing label is masked out, never read as 0.
/// </summary>
public sealed class LabelBlock : IDisposable
{
    public Tensor Targets { get; }
    public Tensor Mask { get; }
    public Tensor Weights { get; }
    /// <summary>1 for regression columns, 0 for classification columns, shape [tasks].</summary>
    public Tensor RegressionColumns { get; }

    public LabelBlock(Tensor targets, Tensor mask, Tensor weights, Tensor regressionColumns)
    {
        (Targets, Mask, Weights, RegressionColumns) = (targets, mask, weights, regressionColumns);
    }

    public void Dispose()
    {
        Targets.Dispose();
        Mask.Dispose();
        Weights.Dispose();
        RegressionColumns.Dispose();
    }
}

public static class MaskedLoss
{
    /// <summary>
    /// Summed (not averaged) loss over labelled entries: binary cross-entropy on logits for classification
    /// columns, squared error for regression columns. Summing lets the coordinator weight workers by labels.
    /// </summary>
    public static Tensor Sum(Tensor outputs, LabelBlock labels) => PerEntry(outputs, labels).sum();

    /// <summary>The weighted loss of every entry, [rows × tasks]; missing labels weigh 0. Its sum is <see cref="Sum"/>.</summary>
    public static Tensor PerEntry(Tensor outputs, LabelBlock labels)
    {
        var bce = nn.functional.binary_cross_entropy_with_logits(outputs, labels.Targets, reduction: nn.Reduction.None);
        var squared = outputs.sub(labels.Targets).square();
        var perEntry = where(labels.RegressionColumns.to(ScalarType.Bool), squared, bce);
        return perEntry.mul(labels.Weights);
    }
}
