using MtnnCluster.Data;
using MtnnCluster.Tests.Serialization;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Data;

public sealed class SyntheticDatasetTests
{
    [Fact]
    public void Rows_are_a_function_of_seed_and_index()
    {
        var a = new SyntheticDataset(1000, 300, 0.1, 7, 2048);
        var b = SyntheticDataset.Parse("synthetic:1000,300,0.1,7", 2048);
        foreach (var row in new[] { 0, 1, 517, 999 })
        {
            Assert.Equal(a.Row(row).Bits, b.Row(row).Bits);
            Assert.Equal(a.Row(row).Tasks, b.Row(row).Tasks);
            Assert.Equal(a.Row(row).Labels, b.Row(row).Labels);
        }
        var other = new SyntheticDataset(1000, 300, 0.1, 8, 2048);
        Assert.NotEqual(a.Row(3).Bits, other.Row(3).Bits);
        Assert.Equal("synthetic:1000,300,0.1,7", a.Descriptor);
    }

    [Fact]
    public void Rows_have_the_promised_shape_and_label_density()
    {
        var data = new SyntheticDataset(2000, 500, 0.05, 0, 1024);
        long labels = 0, positives = 0;
        for (var r = 0; r < data.Rows; r++)
        {
            var row = data.Row(r);
            Assert.Equal(SyntheticDataset.BitsPerRow, row.Bits.Length);
            Assert.True(row.Bits.Zip(row.Bits.Skip(1)).All(p => p.First < p.Second) && row.Bits[^1] < 1024);
            Assert.True(row.Tasks.Zip(row.Tasks.Skip(1)).All(p => p.First < p.Second) && row.Tasks.All(t => t is >= 0 and < 500));
            Assert.Equal(row.Tasks.Length, row.Labels.Length);
            Assert.All(row.Labels, y => Assert.True(y is 0f or 1f));
            labels += row.Labels.Length;
            positives += row.Labels.Count(y => y == 1);
        }
        Assert.InRange(labels / (2000.0 * 500), 0.045, 0.055);
        Assert.InRange((double)positives / labels, 0.15, 0.5);
    }

    [Fact]
    public void Tasks_share_a_latent_structure()
    {
        // Labels from a rank-8 model: tasks correlate well beyond chance (independent tasks: mean |r| ≈ 0.03 on 800 rows).
        var data = new SyntheticDataset(800, 12, 1.0, 3, 2048);
        var rows = Enumerable.Range(0, data.Rows).Select(data.Row).ToArray();
        var correlations = new List<double>();
        for (var s = 0; s < data.Tasks; s++)
            for (var t = s + 1; t < data.Tasks; t++)
                correlations.Add(Math.Abs(Correlation(rows.Select(r => (double)r.Labels[s]).ToArray(), rows.Select(r => (double)r.Labels[t]).ToArray())));
        Assert.True(correlations.Average() > 0.08, $"mean |r| = {correlations.Average():F3}");
    }

    private static double Correlation(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        var cov = x.Zip(y).Sum(p => (p.First - mx) * (p.Second - my));
        var sx = Math.Sqrt(x.Sum(v => (v - mx) * (v - mx)));
        var sy = Math.Sqrt(y.Sum(v => (v - my) * (v - my)));
        return sx == 0 || sy == 0 ? 0 : cov / (sx * sy);
    }

    [Theory]
    [InlineData("100,10")]
    [InlineData("100,x,0.1")]
    [InlineData("100,10,0.1,seed")]
    public void A_bad_descriptor_names_the_option(string text) =>
        Assert.Contains("--synthetic", Assert.Throws<ArgumentException>(() => SyntheticDataset.Parse(text, 2048)).Message);

    [Fact]
    public void Impossible_sizes_are_refused() =>
        Assert.Contains("density", Assert.Throws<ArgumentException>(() => new SyntheticDataset(10, 10, 1.5, 0, 2048)).Message);

    [Fact]
    public void A_descriptor_is_a_dataset_the_trainer_can_load()
    {
        var spec = MtnnMessageSerializerTests.SampleSpec() with { Dataset = new DatasetSpec(["synthetic:500,40,0.25,1"], "smiles", null, null, null) };
        spec = spec with { Split = spec.Split with { Kind = SplitKind.Random }, Featurizer = spec.Featurizer with { Bits = 512 } };
        var data = PreparedDataset.Prepare(spec);
        Assert.Equal(500, data.RowCount);
        Assert.Equal(40, data.TaskCount);
        Assert.Equal(512, data.FeatureSize);
        Assert.Equal(500, data.Split.Train.Length + data.Split.Valid.Length + data.Split.Test.Length);
        Assert.InRange(data.Labels.Count / (500.0 * 40), 0.22, 0.28);
        Assert.All(data.Features, f => Assert.Equal(SyntheticDataset.BitsPerRow, f.Indices.Length));
        // labels are sparse: the bound is on labelled cells, not rows × tasks
        Assert.Contains("labelled cells expected", Assert.Throws<ArgumentException>(() =>
            PreparedDataset.Prepare(spec with { Dataset = spec.Dataset with { Paths = ["synthetic:2000000,10000,0.2"] } })).Message);
    }
}
