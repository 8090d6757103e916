using System.CommandLine;
using MtnnCluster.Cli.Commands;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// The defaults of <c>train</c> (and <c>coordinator</c>, <c>tune</c>'s base): what a run given only --data and --out
/// trains. docs/benchmark-history.md ("Defaults searched, not adopted", "Log-scaled count fingerprints as the default",
/// "Whole-molecule counts beside the fingerprint") says
/// which runs chose them.
/// </summary>
public sealed class TrainDefaultsTests
{
    private static MtnnCluster.Training.RunSpec Spec(params string[] extra)
    {
        var options = new TrainOptions();
        var command = new Command("train");
        options.AddTo(command);
        var parse = command.Parse(["--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(Path.GetTempPath(), "mtnn-defaults-unused"), .. extra]);
        Assert.Empty(parse.Errors);
        return options.ToSpec(parse);
    }

    [Fact]
    public void A_run_given_only_data_and_out_trains_the_defaults()
    {
        var spec = Spec();
        Assert.Equal([2000, 100], spec.Model.Layers);
        Assert.Equal(0.25, spec.Model.Dropout);
        Assert.Equal(1e-3, spec.Optimizer.LearningRate);
        Assert.Equal(1e-4, spec.Optimizer.WeightDecay);
        Assert.Equal(128, spec.Optimizer.BatchSize);
        Assert.Equal(2, spec.Featurizer.Radius);
        Assert.Equal(2048, spec.Featurizer.Bits);
        Assert.True(spec.Featurizer.Counts);
        Assert.Equal(MtnnCluster.Training.CountScale.Log, spec.Featurizer.CountScale);
        Assert.True(spec.Featurizer.Descriptors);
        Assert.Equal(MtnnCluster.Chem.MoleculeDescriptors.LatestSet, spec.Featurizer.DescriptorSet);
        Assert.Equal(2048 + MtnnCluster.Chem.MoleculeDescriptors.Count(2), spec.Featurizer.FeatureSize);
        Assert.Equal(40, spec.Schedule.Epochs);
        Assert.Equal(5, spec.Schedule.Patience);
    }

    [Theory]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--counts" }, true)]
    [InlineData(new[] { "--counts", "false" }, false)]
    public void Counts_by_default_and_bits_when_asked(string[] given, bool counts) =>
        Assert.Equal(counts, Spec(given).Featurizer.Counts);

    [Theory]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--descriptors", "false" }, false)]
    [InlineData(new[] { "--counts", "false" }, true)]
    public void Descriptors_by_default_and_the_fingerprint_alone_when_asked(string[] given, bool descriptors) =>
        Assert.Equal(descriptors, Spec(given).Featurizer.Descriptors);

    [Theory]
    [InlineData(new[] { "--descriptor-set", "1" }, 1)]
    [InlineData(new[] { "--descriptor-set", "2" }, 2)]
    public void An_earlier_descriptor_set_can_be_asked_for(string[] given, int set) =>
        Assert.Equal(set, Spec(given).Featurizer.DescriptorSet);

    [Theory]
    [InlineData(new string[0], MtnnCluster.Training.CountScale.Log)]
    [InlineData(new[] { "--count-scale", "raw" }, MtnnCluster.Training.CountScale.Raw)]
    [InlineData(new[] { "--counts", "--count-scale", "LOG" }, MtnnCluster.Training.CountScale.Log)]
    public void Counts_are_scaled_by_their_logarithm_unless_asked_raw(string[] given, MtnnCluster.Training.CountScale scale) =>
        Assert.Equal(scale, Spec(given).Featurizer.CountScale);

    [Theory]
    [InlineData("raw", "--count-scale applies to count fingerprints")]
    [InlineData("sqrt", "--count-scale must be log or raw (got 'sqrt')")]
    public void A_count_scale_without_counts_or_unknown_is_refused(string scale, string message)
    {
        string[] given = scale == "raw" ? ["--counts", "false", "--count-scale", scale] : ["--count-scale", scale];
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => Spec(given)).Message);
    }

    [Theory]
    [InlineData(new[] { "--descriptor-set", "3" }, "--descriptor-set must be 1 to 2 (got 3)")]
    [InlineData(new[] { "--descriptor-set", "0" }, "--descriptor-set must be 1 to 2 (got 0)")]
    [InlineData(new[] { "--descriptors", "false", "--descriptor-set", "1" }, "--descriptor-set applies with descriptors")]
    public void A_descriptor_set_unknown_or_without_descriptors_is_refused(string[] given, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => Spec(given)).Message);
}
