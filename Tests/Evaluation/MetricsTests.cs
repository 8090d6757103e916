using MtnnCluster.Evaluation;
using Xunit;

namespace MtnnCluster.Tests.Evaluation;

public sealed class MetricsTests
{
    private const double Tolerance = 1e-12;
    private const float Missing = float.NaN;

    [Theory]
    [InlineData(new float[] { 0.1f, 0.2f, 0.8f, 0.9f }, new float[] { 0, 0, 1, 1 }, 1.0)]
    [InlineData(new float[] { 0.9f, 0.8f, 0.2f, 0.1f }, new float[] { 0, 0, 1, 1 }, 0.0)]
    [InlineData(new float[] { 0.5f, 0.5f, 0.5f, 0.5f }, new float[] { 0, 1, 0, 1 }, 0.5)]
    [InlineData(new float[] { 0.1f, 0.4f, 0.35f, 0.8f }, new float[] { 0, 0, 1, 1 }, 0.75)]
    [InlineData(new float[] { 0.5f, 0.5f, 0.2f, 0.9f }, new float[] { 1, 0, 0, 1 }, 0.875)]
    public void RocAuc_matches_hand_computed_values(float[] scores, float[] labels, double expected)
    {
        Assert.Equal(expected, Metrics.RocAuc(scores, labels), Tolerance);
    }

    [Theory]
    [InlineData(new float[] { 0.1f, 0.4f, 0.35f, 0.8f }, new float[] { 0, 0, 1, 1 }, 5.0 / 6)]
    [InlineData(new float[] { 0.1f, 0.2f, 0.8f, 0.9f }, new float[] { 0, 0, 1, 1 }, 1.0)]
    [InlineData(new float[] { 0.5f, 0.5f, 0.5f, 0.5f }, new float[] { 1, 0, 0, 1 }, 0.5)]
    [InlineData(new float[] { 0.9f, 0.6f, 0.6f, 0.1f }, new float[] { 0, 1, 0, 1 }, 0.5 * (1.0 / 3) + 0.5 * 0.5)]
    public void PrcAuc_matches_scikit_learn_average_precision(float[] scores, float[] labels, double expected)
    {
        Assert.Equal(expected, Metrics.PrcAuc(scores, labels), Tolerance);
    }

    [Fact]
    public void Aucs_agree_with_their_definitions_on_random_tied_data()
    {
        var random = new Random(17);
        for (var trial = 0; trial < 50; trial++)
        {
            var n = random.Next(2, 60);
            var scores = Enumerable.Range(0, n).Select(_ => random.Next(8) / 8f).ToArray();
            var labels = Enumerable.Range(0, n).Select(_ => random.NextDouble() < 0.3 ? 1f : 0f).ToArray();
            labels[0] = 0;
            labels[1] = 1;

            Assert.Equal(PairwiseRocAuc(scores, labels), Metrics.RocAuc(scores, labels), 1e-9);
            Assert.Equal(ThresholdAveragePrecision(scores, labels), Metrics.PrcAuc(scores, labels), 1e-9);
        }
    }

    [Fact]
    public void Missing_labels_are_skipped()
    {
        float[] scores = [0.1f, 0.99f, 0.4f, 0.35f, 0.0f, 0.8f];
        float[] labels = [0, Missing, 0, 1, Missing, 1];

        Assert.Equal(0.75, Metrics.RocAuc(scores, labels), Tolerance);
        Assert.Equal(5.0 / 6, Metrics.PrcAuc(scores, labels), Tolerance);
        Assert.Equal(Metrics.Rmse([1, 2], [1, 4]), Metrics.Rmse([1, float.NaN, 2], [1, Missing, 4]));
    }

    [Fact]
    public void One_class_or_no_labels_gives_NaN()
    {
        Assert.True(double.IsNaN(Metrics.RocAuc([0.1f, 0.9f], [1, 1])));
        Assert.True(double.IsNaN(Metrics.RocAuc([0.1f, 0.9f], [0, Missing])));
        Assert.True(double.IsNaN(Metrics.PrcAuc([0.1f, 0.9f], [0, 0])));
        Assert.True(double.IsNaN(Metrics.PrcAuc([0.1f, 0.9f], [1, 1])));
        Assert.True(double.IsNaN(Metrics.RocAuc([], [])));
        Assert.True(double.IsNaN(Metrics.Rmse([1f], [Missing])));
        Assert.True(double.IsNaN(Metrics.Mae([], [])));
    }

    [Fact]
    public void Regression_metrics_match_hand_computed_values()
    {
        float[] predictions = [1, 2, 3, 5, 100];
        float[] labels = [1, 2, 3, 4, Missing];

        Assert.Equal(0.5, Metrics.Rmse(predictions, labels), Tolerance);
        Assert.Equal(0.25, Metrics.Mae(predictions, labels), Tolerance);
        Assert.Equal(1 - 1.0 / 5, Metrics.R2(predictions, labels), Tolerance);
        Assert.Equal(1.0, Metrics.R2([1, 2], [1, 2]), Tolerance);
    }

    [Fact]
    public void R2_is_NaN_when_labels_do_not_vary()
    {
        Assert.True(double.IsNaN(Metrics.R2([1, 2, 3], [2, 2, 2])));
    }

    [Fact]
    public void Bad_inputs_are_argument_errors()
    {
        Assert.Throws<ArgumentException>(() => Metrics.RocAuc([0.1f, 0.2f], [0, 2]));
        Assert.Throws<ArgumentException>(() => Metrics.RocAuc([0.1f], [0, 1]));
        Assert.Throws<ArgumentException>(() => Metrics.PrcAuc([float.NaN, 0.2f], [0, 1]));
        Assert.Throws<ArgumentException>(() => Metrics.Rmse([float.NaN], [1]));
    }

    [Fact]
    public void NaN_predictions_for_missing_labels_are_allowed()
    {
        Assert.Equal(1.0, Metrics.RocAuc([0.1f, float.NaN, 0.9f], [0, Missing, 1]));
    }

    /// <summary>Probability that a random positive outscores a random negative, ties counting half.</summary>
    private static double PairwiseRocAuc(float[] scores, float[] labels)
    {
        double wins = 0;
        var pairs = 0;
        for (var p = 0; p < scores.Length; p++)
        for (var n = 0; n < scores.Length; n++)
        {
            if (labels[p] != 1 || labels[n] != 0)
                continue;
            pairs++;
            wins += scores[p] > scores[n] ? 1 : scores[p] == scores[n] ? 0.5 : 0;
        }
        return wins / pairs;
    }

    /// <summary>scikit-learn's definition: Σ (R_k − R_{k−1}) P_k over distinct thresholds, highest first.</summary>
    private static double ThresholdAveragePrecision(float[] scores, float[] labels)
    {
        var positives = labels.Count(y => y == 1);
        double previousRecall = 0, sum = 0;
        foreach (var threshold in scores.Distinct().OrderDescending())
        {
            var selected = Enumerable.Range(0, scores.Length).Where(i => scores[i] >= threshold).ToArray();
            var truePositives = selected.Count(i => labels[i] == 1);
            var recall = (double)truePositives / positives;
            sum += (recall - previousRecall) * truePositives / selected.Length;
            previousRecall = recall;
        }
        return sum;
    }
}
