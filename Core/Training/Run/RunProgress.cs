using MtnnCluster.Evaluation;

namespace MtnnCluster.Training.Run;

/// <summary>
/// The epochs done and early stopping's state: the history, the best validation score and its epoch. An epoch
/// improves when its score beats the best so far; the first epoch always does (a NaN score included). Tasks enter
/// the score as <see cref="MetricSummary.ValidationScore"/> says (--min-class-count).
/// </summary>
public sealed class RunProgress(IEnumerable<EpochReport> history, int bestEpoch, double bestScore, int minClassCount)
{
    private readonly List<EpochReport> _history = [.. history];

    public IReadOnlyList<EpochReport> History => _history;
    public int BestEpoch { get; private set; } = bestEpoch;
    public double BestScore { get; private set; } = bestScore;
    public int LastEpoch => _history.Count > 0 ? _history[^1].Epoch : 0;

    public static RunProgress Fresh(int minClassCount) => new([], 0, double.NegativeInfinity, minClassCount);

    public EpochReport Record(int epoch, int epochs, EpochPhase phase, EpochTally tally, double trainSeconds, IReadOnlyList<TaskMetrics> validScores)
    {
        var score = MetricSummary.ValidationScore(validScores, minClassCount);
        var improved = score > BestScore || BestEpoch == 0;
        if (improved) (BestScore, BestEpoch) = (score, epoch);
        var report = new EpochReport(epoch, epochs, phase, tally.MeanLoss, score,
            MetricSummary.MeanScored(validScores.Where(s => !s.Regression), m => m.RocAuc, minClassCount),
            trainSeconds, tally.Rows / Math.Max(trainSeconds, 1e-9), improved, tally.Rows, tally.BytesSent);
        _history.Add(report);
        return report;
    }
}
