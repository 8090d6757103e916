using MtnnCluster.Data;
using Xunit;

namespace MtnnCluster.Tests.Data;

public sealed class LabelTableTests
{
    private static readonly TaskInfo[] Tasks = [new("active", TaskKind.Classification), new("logS", TaskKind.Regression)];

    [Fact]
    public void Counts_labels_and_positives_per_task()
    {
        var table = new LabelTable("mem", ["C", "CC", "CCC"], [2, 3, 4], Tasks, [1, 1, float.NaN, -2, 0, float.NaN], []);

        Assert.Equal((2, 1), (table.LabelledCount(0), table.PositiveCount(0)));
        Assert.Equal((2, 0), (table.LabelledCount(1), table.PositiveCount(1)));
        Assert.Equal(-2f, table.Label(1, 1));
    }

    [Fact]
    public void Rejects_arrays_that_do_not_fit_together()
    {
        Assert.Throws<ArgumentException>(() => new LabelTable("mem", ["C"], [2], Tasks, [1], []));
        Assert.Throws<ArgumentException>(() => new LabelTable("mem", ["C"], [2, 3], Tasks, [1, 2], []));
    }
}
