using MtnnCluster.Data;
using Xunit;

namespace MtnnCluster.Tests.Data;

public sealed class DatasetSplitterTests
{
    private static readonly SplitFractions Default = new();

    [Theory]
    [InlineData(-0.1, 0.6, 0.5)]
    [InlineData(0.8, 0.1, 0.2)]
    [InlineData(0.5, 0.1, 0.1)]
    [InlineData(double.NaN, 0.5, 0.5)]
    public void Invalid_fractions_are_rejected_naming_the_values(double train, double valid, double test)
    {
        var error = Assert.Throws<ArgumentException>(() => new SplitFractions(train, valid, test));

        Assert.Contains($"train {train}, valid {valid}, test {test}", error.Message);
    }

    [Fact]
    public void Fractions_summing_to_one_within_rounding_are_accepted()
    {
        Assert.Equal(0.7, new SplitFractions(0.7, 0.2, 0.1000001).Train);
        Assert.Equal(new SplitFractions(0.8, 0.1, 0.1), Default);
        Assert.Equal(1.0, new SplitFractions(1, 0, 0).Train);
    }

    [Theory]
    [InlineData(0, 0.8, 0.1, 0.1)]
    [InlineData(1, 0.8, 0.1, 0.1)]
    [InlineData(7, 0.8, 0.1, 0.1)]
    [InlineData(1000, 0.8, 0.1, 0.1)]
    [InlineData(7831, 0.8, 0.1, 0.1)]
    [InlineData(333, 0.34, 0.33, 0.33)]
    [InlineData(101, 0.5, 0.5, 0)]
    [InlineData(99, 0, 0, 1)]
    public void Random_split_sizes_follow_the_fractions(int rows, double train, double valid, double test)
    {
        var split = DatasetSplitter.Random(rows, new SplitFractions(train, valid, test), seed: 3);

        AssertPartition(split, rows);
        Assert.InRange(split.Train.Length, train * rows - 1, train * rows + 1);
        Assert.InRange(split.Valid.Length, valid * rows - 1, valid * rows + 1);
        Assert.InRange(split.Test.Length, test * rows - 1, test * rows + 1);
    }

    [Fact]
    public void Random_split_is_fixed_by_its_seed()
    {
        var once = DatasetSplitter.Random(500, Default, seed: 11);
        var again = DatasetSplitter.Random(500, Default, seed: 11);
        var other = DatasetSplitter.Random(500, Default, seed: 12);

        Assert.Equal(once.Test, again.Test);
        Assert.Equal(once.Valid, again.Valid);
        Assert.NotEqual(once.Test, other.Test);
    }

    [Fact]
    public void Random_split_does_not_change_between_versions()
    {
        // Pinned output: a change here silently changes every reported benchmark split.
        var split = DatasetSplitter.Random(20, Default, seed: 42);

        Assert.Equal([0, 5], split.Valid);
        Assert.Equal([13, 15], split.Test);
    }

    [Fact]
    public void Scaffold_split_keeps_each_scaffold_in_one_split()
    {
        var keys = ScaffoldKeys(rows: 2000, scaffolds: 300, seed: 5);

        var split = DatasetSplitter.Scaffold(keys, Default, seed: 1);

        AssertPartition(split, keys.Length);
        var splitsPerKey = Enumerable.Range(0, keys.Length).GroupBy(row => keys[row], row => split.Of(row));
        Assert.All(splitsPerKey, group => Assert.Single(group.Distinct()));
    }

    [Fact]
    public void Scaffold_split_sizes_follow_the_fractions_for_small_scaffolds()
    {
        var keys = Enumerable.Range(0, 1000).Select(row => $"s{row / 4}").ToArray();

        var split = DatasetSplitter.Scaffold(keys, Default, seed: 2);

        Assert.InRange(split.Train.Length, 797, 800);
        Assert.InRange(split.Valid.Length, 97, 100);
        Assert.Equal(1000, split.Train.Length + split.Valid.Length + split.Test.Length);
    }

    [Fact]
    public void Scaffold_split_puts_a_big_scaffold_in_train()
    {
        // Rows 0..399 share one scaffold, the empty key of acyclic molecules, and the rest are unique.
        var keys = Enumerable.Range(0, 1000).Select(row => row < 400 ? "" : $"s{row}").ToArray();

        foreach (var seed in new[] { 1, 2, 3 })
        {
            var split = DatasetSplitter.Scaffold(keys, Default, seed);
            Assert.All(Enumerable.Range(0, 400), row => Assert.Equal(Split.Train, split.Of(row)));
        }
    }

    [Fact]
    public void Scaffold_split_is_fixed_by_its_seed()
    {
        var keys = ScaffoldKeys(rows: 1000, scaffolds: 200, seed: 9);

        var once = DatasetSplitter.Scaffold(keys, Default, seed: 4);
        var again = DatasetSplitter.Scaffold(keys, Default, seed: 4);
        var other = DatasetSplitter.Scaffold(keys, Default, seed: 5);

        Assert.Equal(once.Test, again.Test);
        Assert.Equal(once.Valid, again.Valid);
        Assert.NotEqual(once.Test, other.Test);
    }

    [Fact]
    public void Assignment_rejects_rows_in_two_splits_or_none()
    {
        Assert.Throws<ArgumentException>(() => new SplitAssignment([0, 1], [1], [2, 3]));
        Assert.Throws<ArgumentException>(() => new SplitAssignment([0, 1], [3], [4]));
    }

    [Fact]
    public void Assignment_sorts_rows_and_answers_which_split_a_row_is_in()
    {
        var split = new SplitAssignment([4, 0, 2], [3], [1]);

        Assert.Equal([0, 2, 4], split.Train);
        Assert.Equal(5, split.RowCount);
        Assert.Equal(Split.Test, split.Of(1));
        Assert.Equal(Split.Valid, split.Of(3));
        Assert.Same(split.Valid, split.Rows(Split.Valid));
    }

    private static void AssertPartition(SplitAssignment split, int rows)
    {
        var all = split.Train.Concat(split.Valid).Concat(split.Test).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, rows), all);
        Assert.Equal(rows, split.RowCount);
        foreach (var kind in Enum.GetValues<Split>())
        {
            Assert.Equal(split.Rows(kind).Order(), split.Rows(kind));
            Assert.All(split.Rows(kind), row => Assert.Equal(kind, split.Of(row)));
        }
    }

    /// <summary>Scaffold keys of skewed group sizes, as in real datasets, plus acyclic rows.</summary>
    private static string[] ScaffoldKeys(int rows, int scaffolds, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows)
            .Select(_ => random.NextDouble() < 0.05 ? "" : $"c1ccc{(int)(scaffolds * Math.Pow(random.NextDouble(), 3))}cc1")
            .ToArray();
    }
}
