using MtnnCluster.Evaluation;
using Xunit;

namespace MtnnCluster.Tests.Evaluation;

public sealed class FewShotTests
{
    [Fact]
    public void Delta_auprc_is_average_precision_less_the_fraction_of_positives()
    {
        // ranked 0.9 (+), 0.8 (−), 0.7 (+), 0.6 (−): precision at the positives 1/1 and 2/3, AP = (1 + 2/3) / 2 = 5/6;
        // half are positive, so ΔAUPRC = 5/6 − 1/2 = 1/3
        Assert.Equal(1.0 / 3, FewShot.DeltaAuprc([0.6f, 0.9f, 0.7f, 0.8f], [0, 1, 1, 0]), 1e-12);
        // a perfect ranking of 1 positive in 4: AP 1, ΔAUPRC 0.75; the worst: AP 1/4, ΔAUPRC 0
        Assert.Equal(0.75, FewShot.DeltaAuprc([0.9f, 0.1f, 0.2f, 0.3f], [1, 0, 0, 0]), 1e-12);
        Assert.Equal(0, FewShot.DeltaAuprc([0.0f, 0.1f, 0.2f, 0.3f], [1, 0, 0, 0]), 1e-12);
        Assert.True(double.IsNaN(FewShot.DeltaAuprc([0.5f, 0.4f], [1, 1])));
    }

    [Fact]
    public void Support_sets_are_stratified_with_both_classes_and_leave_both_classes_to_score()
    {
        var labels = Enumerable.Range(0, 100).Select(i => i < 25 ? 1f : 0f).ToArray();
        var support = FewShot.DrawSupport(labels, 16, new Random(1))!;
        Assert.Equal(16, support.Distinct().Count());
        Assert.Equal(4, support.Count(i => labels[i] == 1)); // 16 × 25%
        var rare = Enumerable.Range(0, 40).Select(i => i == 0 ? 1f : 0f).ToArray();
        Assert.Null(FewShot.DrawSupport(rare, 16, new Random(1))); // its one positive would leave none to score
        Assert.Null(FewShot.DrawSupport(labels.Take(20).ToArray(), 16, new Random(1)));
    }
}
