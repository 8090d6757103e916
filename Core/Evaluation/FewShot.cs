namespace MtnnCluster.Evaluation;

/// <summary>FS-Mol's few-shot protocol: stratified support sets and ΔAUPRC.</summary>
public static class FewShot
{
    /// <summary>
    /// ΔAUPRC: average precision of <paramref name="scores"/> minus the fraction of positives among them (what a
    /// random ranking scores), so 0 is chance whatever a task's balance; NaN with a single class.
    /// </summary>
    public static double DeltaAuprc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        var positives = 0;
        foreach (var label in labels) if (label == 1) positives++;
        return Metrics.PrcAuc(scores, labels) - (double)positives / labels.Length;
    }

    /// <summary>
    /// A support set of <paramref name="size"/> of a task's labelled items (indices into <paramref name="labels"/>),
    /// stratified: positives in the task's proportion, rounded, and at least one of each class. Null when the task
    /// cannot give one and leave both classes among the rest.
    /// </summary>
    public static int[]? DrawSupport(IReadOnlyList<float> labels, int size, Random random)
    {
        var positive = Enumerable.Range(0, labels.Count).Where(i => labels[i] == 1).ToArray();
        var negative = Enumerable.Range(0, labels.Count).Where(i => labels[i] != 1).ToArray();
        var wanted = (int)Math.Clamp(Math.Round(size * (double)positive.Length / Math.Max(1, labels.Count)), 1, size - 1);
        if (wanted >= positive.Length || size - wanted >= negative.Length) return null;
        random.Shuffle(positive);
        random.Shuffle(negative);
        return [.. positive[..wanted], .. negative[..(size - wanted)]];
    }
}
