namespace MtnnCluster.Evaluation;

/// <summary>Why a task's scores on a split stay out of that split's means.</summary>
public enum NotScored
{
    /// <summary>It is scored.</summary>
    No,
    NoLabels,
    /// <summary>Classification with only one class among its labels: no AUC exists.</summary>
    OneClass,
    /// <summary>Classification with fewer than the minimum count of positives or of negatives: an AUC on so few is noise.</summary>
    FewerThanMinClass,
    /// <summary>Regression whose labels do not vary: no R².</summary>
    ConstantLabels,
}

/// <summary>How many tasks of a split were scored, and why the others were not.</summary>
public sealed record ScoringCount(int Tasks, int Scored, int NoLabels, int OneClass, int FewerThanMinClass, int ConstantLabels);

/// <summary>Averages of a metric over tasks.</summary>
public static class MetricSummary
{
    /// <summary>Positives and negatives a classification task needs on a split to enter its means (SparseChem's default).</summary>
    public const int DefaultMinClassCount = 5;

    /// <summary>
    /// Whether a task's scores on one split enter the split's means: a classification task needs at least
    /// <paramref name="minClassCount"/> positives and as many negatives there; a regression task, labels that vary.
    /// </summary>
    public static NotScored Why(TaskMetrics task, int minClassCount)
    {
        if (task.Labelled == 0) return NotScored.NoLabels;
        if (task.Regression) return double.IsNaN(task.R2) ? NotScored.ConstantLabels : NotScored.No;
        if (task.SingleClass) return NotScored.OneClass;
        return Math.Min(task.Positives, task.Labelled - task.Positives) < minClassCount ? NotScored.FewerThanMinClass : NotScored.No;
    }

    public static bool IsScored(TaskMetrics task, int minClassCount) => Why(task, minClassCount) == NotScored.No;

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

    /// <summary><see cref="Mean"/> over the tasks that pass <see cref="IsScored"/> only.</summary>
    public static double MeanScored(IEnumerable<TaskMetrics> tasks, Func<TaskMetrics, double> metric, int minClassCount) =>
        Mean(tasks.Where(t => IsScored(t, minClassCount)), metric);

    /// <summary>
    /// The early-stopping score of one split's scores: mean ROC-AUC of classification tasks and R² of regression tasks,
    /// over the tasks that pass <see cref="IsScored"/>. When none passes (a small dataset's validation split), the mean
    /// over every task with a defined score, so that a run can still keep its best epoch.
    /// </summary>
    public static double ValidationScore(IEnumerable<TaskMetrics> scores, int minClassCount)
    {
        static double Score(TaskMetrics m) => m.Regression ? m.R2 : m.RocAuc;
        var all = scores as IReadOnlyCollection<TaskMetrics> ?? scores.ToArray();
        var scored = MeanScored(all, Score, minClassCount);
        return double.IsNaN(scored) ? Mean(all, Score) : scored;
    }

    /// <summary>How many of one split's tasks are scored, and why the others are not.</summary>
    public static ScoringCount Count(IEnumerable<TaskMetrics> split, int minClassCount)
    {
        var counts = new int[Enum.GetValues<NotScored>().Length];
        var tasks = 0;
        foreach (var task in split)
        {
            counts[(int)Why(task, minClassCount)]++;
            tasks++;
        }
        return new ScoringCount(tasks, counts[(int)NotScored.No], counts[(int)NotScored.NoLabels], counts[(int)NotScored.OneClass],
            counts[(int)NotScored.FewerThanMinClass], counts[(int)NotScored.ConstantLabels]);
    }
}
