namespace MtnnCluster.Evaluation;

/// <summary>Averages of a metric over tasks.</summary>
public static class MetricSummary
{
    /// <summary>Mean of <paramref name="metric"/> over the tasks where it is defined (NaN values, e.g. single-class tasks, are left out); NaN when there are none.</summary>
    public static double Mean(IEnumerable<TaskMetrics> tasks, Func<TaskMetrics, double> metric)
    {
        double sum = 0;
        var count = 0;
        foreach (var task in tasks)
        {
            var value = metric(task);
            if (double.IsNaN(value))
                continue;
            sum += value;
            count++;
        }
        return count > 0 ? sum / count : double.NaN;
    }

    /// <summary>The early-stopping score: mean validation ROC-AUC of classification tasks and R² of regression ones.</summary>
    public static double ValidationScore(IEnumerable<TaskMetrics> scores) => Mean(scores, s => s.Regression ? s.R2 : s.RocAuc);
}
