using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The labels of a batch as its labelled cells only: each cell's row in the batch, task column, target, weight
/// (positive weighting) and loss kind. Most cells of a multitask batch are missing; they are never materialised,
/// so a missing label cannot be read as 0. <paramref name="Count"/> is known on the host without a device sync.
/// </summary>
public sealed record LabelCells(Tensor Rows, Tensor Columns, Tensor Targets, Tensor Weights, Tensor Regression, long Count);

public static class MaskedLoss
{
    /// <summary>
    /// Summed (not averaged) loss over labelled cells: binary cross-entropy on logits for classification
    /// columns, squared error for regression columns. Summing lets the coordinator weight workers by labels.
    /// </summary>
    public static Tensor Sum(Tensor logits, LabelCells labels) => PerCell(logits, labels).sum();

    /// <summary>
    /// The weighted loss of every labelled cell from its logit (<see cref="HeadBlock.Logits"/>), in the order of
    /// <paramref name="labels"/>. Its sum is <see cref="Sum"/>.
    /// </summary>
    public static Tensor PerCell(Tensor logits, LabelCells labels)
    {
        var bce = nn.functional.binary_cross_entropy_with_logits(logits, labels.Targets, reduction: nn.Reduction.None);
        var squared = logits.sub(labels.Targets).square();
        return where(labels.Regression, squared, bce).mul(labels.Weights);
    }
}
