using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using Xunit;

namespace MtnnCluster.Tests.Evaluation;

public sealed class TaskMetricsTests
{
    [Fact]
    public void Classification_fills_the_aucs_and_leaves_regression_fields_NaN()
    {
        var metrics = TaskMetrics.Compute(
            "NR-AR", TaskKind.Classification, Split.Test, [0.1f, 0.4f, 0.35f, 0.8f, 0.5f], [0, 0, 1, 1, float.NaN]);

        Assert.Equal(("NR-AR", TaskKind.Classification, Split.Test), (metrics.Task, metrics.Kind, metrics.Split));
        Assert.Equal(4, metrics.Labelled);
        Assert.Equal(2, metrics.Positives);
        Assert.Equal(0.75, metrics.RocAuc, 1e-12);
        Assert.Equal(5.0 / 6, metrics.PrcAuc, 1e-12);
        Assert.True(double.IsNaN(metrics.Rmse) && double.IsNaN(metrics.Mae) && double.IsNaN(metrics.R2));
        Assert.False(metrics.SingleClass);
    }

    [Fact]
    public void Classification_with_one_class_is_flagged_and_unscored()
    {
        var metrics = TaskMetrics.Compute("t", TaskKind.Classification, Split.Valid, [0.2f, 0.7f, 0.1f], [0, 0, float.NaN]);

        Assert.True(metrics.SingleClass);
        Assert.Equal((2, 0), (metrics.Labelled, metrics.Positives));
        Assert.True(double.IsNaN(metrics.RocAuc) && double.IsNaN(metrics.PrcAuc));
    }

    [Fact]
    public void Regression_fills_the_errors_and_leaves_the_aucs_NaN()
    {
        var metrics = TaskMetrics.Compute("logS", TaskKind.Regression, Split.Test, [1, 2, 3, 5], [1, 2, 3, 4]);

        Assert.Equal((4, 0, false), (metrics.Labelled, metrics.Positives, metrics.SingleClass));
        Assert.Equal(0.5, metrics.Rmse, 1e-12);
        Assert.Equal(0.25, metrics.Mae, 1e-12);
        Assert.Equal(0.8, metrics.R2, 1e-12);
        Assert.True(double.IsNaN(metrics.RocAuc) && double.IsNaN(metrics.PrcAuc));
    }

    [Fact]
    public void Mean_leaves_out_tasks_where_the_metric_is_undefined()
    {
        TaskMetrics[] tasks =
        [
            TaskMetrics.Compute("a", TaskKind.Classification, Split.Test, [0.1f, 0.9f], [0, 1]),
            TaskMetrics.Compute("b", TaskKind.Classification, Split.Test, [0.9f, 0.1f], [0, 1]),
            TaskMetrics.Compute("c", TaskKind.Classification, Split.Test, [0.5f, 0.6f], [1, 1]),
        ];

        Assert.Equal(0.5, MetricSummary.Mean(tasks, m => m.RocAuc), 1e-12);
        Assert.True(double.IsNaN(MetricSummary.Mean(tasks[2..], m => m.RocAuc)));
        Assert.True(double.IsNaN(MetricSummary.Mean([], m => m.RocAuc)));
    }
}
