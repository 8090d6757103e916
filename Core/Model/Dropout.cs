using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

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
