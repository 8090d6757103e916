using MtnnCluster.Data;

namespace MtnnCluster.Evaluation;

/// <summary>
/// How well one task is predicted on one split. Fields that do not apply to the task's kind are NaN,
/// as are the AUCs of a classification task that lacks a class there (<see cref="SingleClass"/>).
/// </summary>
/// <param name="Labelled">Rows with a label.</param>
/// <param name="Positives">Rows labelled 1 (classification); 0 for regression.</param>
public sealed record TaskMetrics(
    string Task,
    TaskKind Kind,
    Split Split,
    int Labelled,
    int Positives,
    double RocAuc,
    double PrcAuc,
    double Rmse,
    double Mae,
    double R2)
{
    /// <summary>A classification task whose labels here hold fewer than two classes, so it cannot be scored.</summary>
    public bool SingleClass => Kind == TaskKind.Classification && (Positives == 0 || Positives == Labelled);

    public bool Regression => Kind == TaskKind.Regression;

    /// <param name="predictions">Probabilities for classification, values for regression.</param>
    /// <param name="labels">Labels, NaN where missing.</param>
    public static TaskMetrics Compute(
        string task, TaskKind kind, Split split, ReadOnlySpan<float> predictions, ReadOnlySpan<float> labels)
    {
        var labelled = 0;
        var positives = 0;
        foreach (var label in labels)
        {
            if (float.IsNaN(label))
                continue;
            labelled++;
            if (kind == TaskKind.Classification && label == 1f)
                positives++;
        }

        return kind == TaskKind.Classification
            ? new TaskMetrics(task, kind, split, labelled, positives,
                Metrics.RocAuc(predictions, labels), Metrics.PrcAuc(predictions, labels),
                double.NaN, double.NaN, double.NaN)
            : new TaskMetrics(task, kind, split, labelled, 0,
                double.NaN, double.NaN,
                Metrics.Rmse(predictions, labels), Metrics.Mae(predictions, labels), Metrics.R2(predictions, labels));
    }
}
