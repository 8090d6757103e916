namespace MtnnCluster.Evaluation;

/// <summary>
/// Scores of predictions against labels. A NaN label is a missing label and is skipped by every metric.
/// A NaN prediction where a label exists throws: a diverged model must not pass for a task that
/// cannot be scored.
/// </summary>
public static class Metrics
{
    /// <summary>Area under the ROC curve (Mann–Whitney U, tied scores share their average rank). NaN unless both classes occur.</summary>
    /// <param name="labels">0 or 1, or NaN for missing.</param>
    public static double RocAuc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        var (sorted, isPositive, positives) = SortedByScore(scores, labels);
        var negatives = sorted.Length - positives;
        if (positives == 0 || negatives == 0)
            return double.NaN;

        double positiveRankSum = 0;
        foreach (var (start, end, groupPositives) in TieGroups(sorted, isPositive))
            positiveRankSum += groupPositives * ((start + end - 1) / 2.0 + 1); // 1-based average rank of the group
        return (positiveRankSum - positives * (positives + 1.0) / 2) / ((double)positives * negatives);
    }

    /// <summary>
    /// Average precision, as scikit-learn's <c>average_precision_score</c>: the sum over descending score
    /// thresholds of (recall gain) × precision, tied scores forming one threshold. NaN unless both classes occur.
    /// </summary>
    /// <param name="labels">0 or 1, or NaN for missing.</param>
    public static double PrcAuc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        var (sorted, isPositive, positives) = SortedByScore(scores, labels);
        if (positives == 0 || positives == sorted.Length)
            return double.NaN;

        var groups = TieGroups(sorted, isPositive).ToArray();
        int truePositives = 0, predictedPositives = 0;
        double averagePrecision = 0;
        for (var g = groups.Length - 1; g >= 0; g--)
        {
            var (start, end, groupPositives) = groups[g];
            truePositives += groupPositives;
            predictedPositives += end - start;
            averagePrecision += (double)groupPositives / positives * truePositives / predictedPositives;
        }
        return averagePrecision;
    }

    /// <summary>Root mean squared error; NaN when nothing is labelled.</summary>
    public static double Rmse(ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels) =>
        Math.Sqrt(MeanOf(predictions, labels, static (p, y) => (p - y) * (p - y)));

    /// <summary>Mean absolute error; NaN when nothing is labelled.</summary>
    public static double Mae(ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels) =>
        MeanOf(predictions, labels, static (p, y) => Math.Abs(p - y));

    /// <summary>Coefficient of determination; NaN when nothing is labelled or the labels do not vary.</summary>
    public static double R2(ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels)
    {
        var mean = MeanOf(predictions, labels, static (_, y) => y);
        var residual = MeanOf(predictions, labels, static (p, y) => (p - y) * (p - y));
        var variance = MeanOf(predictions, labels, (_, y) => (y - mean) * (y - mean));
        return variance > 0 ? 1 - residual / variance : double.NaN;
    }

    /// <summary>Labelled scores in ascending order with their classes, and how many are positive.</summary>
    private static (float[] Scores, bool[] IsPositive, int Positives) SortedByScore(
        ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        CheckLengths(scores, labels);
        var labelled = CountLabelled(labels);
        var sorted = new float[labelled];
        var isPositive = new bool[labelled];
        var positives = 0;
        for (int i = 0, n = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (float.IsNaN(label))
                continue;
            if (label is not (0f or 1f))
                throw new ArgumentException($"Label {i} is {label}; classification labels must be 0 or 1.", nameof(labels));
            sorted[n] = CheckedPrediction(scores, i);
            isPositive[n++] = label == 1f;
            if (label == 1f)
                positives++;
        }
        Array.Sort(sorted, isPositive);
        return (sorted, isPositive, positives);
    }

    /// <summary>Runs of equal scores in an ascending array: [Start, End) and the positives among them.</summary>
    private static IEnumerable<(int Start, int End, int Positives)> TieGroups(float[] sorted, bool[] isPositive)
    {
        for (var start = 0; start < sorted.Length;)
        {
            var end = start;
            var positives = 0;
            for (; end < sorted.Length && sorted[end] == sorted[start]; end++)
                positives += isPositive[end] ? 1 : 0;
            yield return (start, end, positives);
            start = end;
        }
    }

    private static double MeanOf(ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels, Func<double, double, double> term)
    {
        CheckLengths(predictions, labels);
        double sum = 0;
        var count = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            if (float.IsNaN(labels[i]))
                continue;
            sum += term(CheckedPrediction(predictions, i), labels[i]);
            count++;
        }
        return count > 0 ? sum / count : double.NaN;
    }

    private static int CountLabelled(ReadOnlySpan<float> labels)
    {
        var count = 0;
        foreach (var label in labels)
            count += float.IsNaN(label) ? 0 : 1;
        return count;
    }

    private static float CheckedPrediction(ReadOnlySpan<float> predictions, int i) =>
        float.IsNaN(predictions[i])
            ? throw new ArgumentException($"Prediction {i} is NaN where a label exists.", nameof(predictions))
            : predictions[i];

    private static void CheckLengths(ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels)
    {
        if (predictions.Length != labels.Length)
            throw new ArgumentException($"{predictions.Length} predictions for {labels.Length} labels.", nameof(predictions));
    }
}
