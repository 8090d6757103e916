using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using Xunit;

namespace MtnnCluster.Tests.Evaluation;

/// <summary>SparseChem's rule: a classification task enters a split's means only with enough of each class there.</summary>
public sealed class MinClassCountTests
{
    /// <summary>A task whose positives all score above its negatives (ROC-AUC 1), or all below (0) when <paramref name="inverted"/>.</summary>
    private static TaskMetrics Task(string name, int positives, int negatives, bool inverted = false)
    {
        var labels = Enumerable.Repeat(1f, positives).Concat(Enumerable.Repeat(0f, negatives)).ToArray();
        var scores = labels.Select((y, i) => (y == 1) != inverted ? 0.9f - i * 1e-3f : 0.1f + i * 1e-3f).ToArray();
        return TaskMetrics.Compute(name, TaskKind.Classification, Split.Valid, scores, labels);
    }

    [Theory]
    [InlineData(5, 5, 5, NotScored.No)]
    [InlineData(4, 40, 5, NotScored.FewerThanMinClass)]
    [InlineData(40, 4, 5, NotScored.FewerThanMinClass)]
    [InlineData(4, 4, 4, NotScored.No)]
    [InlineData(0, 9, 1, NotScored.OneClass)]
    [InlineData(0, 0, 1, NotScored.NoLabels)]
    public void A_task_needs_the_minimum_of_positives_and_of_negatives(int positives, int negatives, int min, NotScored expected)
    {
        Assert.Equal(expected, MetricSummary.Why(Task("t", positives, negatives), min));
    }

    [Fact]
    public void Regression_tasks_are_scored_when_their_labels_vary()
    {
        var varying = TaskMetrics.Compute("r", TaskKind.Regression, Split.Valid, [1, 2, 3], [1, 2, 4]);
        var constant = TaskMetrics.Compute("c", TaskKind.Regression, Split.Valid, [1, 2], [3, 3]);

        Assert.Equal(NotScored.No, MetricSummary.Why(varying, 5));
        Assert.Equal(NotScored.ConstantLabels, MetricSummary.Why(constant, 5));
    }

    [Fact]
    public void Only_scored_tasks_enter_the_mean_and_the_validation_score()
    {
        TaskMetrics[] split = [Task("big", 10, 10), Task("small", 2, 30, inverted: true), Task("none", 0, 0)];

        Assert.Equal(0.5, MetricSummary.Mean(split, m => m.RocAuc), 1e-12);
        Assert.Equal(1.0, MetricSummary.MeanScored(split, m => m.RocAuc, 5), 1e-12);
        Assert.Equal(1.0, MetricSummary.ValidationScore(split, 5), 1e-12);
        Assert.Equal(0.5, MetricSummary.ValidationScore(split, 1), 1e-12);
        Assert.Equal(new ScoringCount(3, 1, 1, 0, 1, 0), MetricSummary.Count(split, 5));
    }

    [Fact]
    public void With_no_task_at_the_minimum_the_validation_score_falls_back_to_every_scorable_task()
    {
        TaskMetrics[] split = [Task("a", 2, 3), Task("b", 3, 2, inverted: true), Task("c", 1, 1)];

        Assert.True(double.IsNaN(MetricSummary.MeanScored(split, m => m.RocAuc, 5)));
        Assert.Equal(2.0 / 3, MetricSummary.ValidationScore(split, 5), 1e-12);
    }
}
