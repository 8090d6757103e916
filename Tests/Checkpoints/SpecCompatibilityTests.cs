using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Checkpoints;

/// <summary>Run specs written before a setting existed read as what those runs trained with.</summary>
public sealed class SpecCompatibilityTests
{
    [Fact]
    public void A_featurizer_written_before_the_count_scale_reads_as_raw_counts()
    {
        var old = JsonSerializer.Deserialize<FeaturizerSpec>("""{"radius": 2, "bits": 64, "counts": true}""", Checkpoint.Json)!;
        Assert.Equal(new FeaturizerSpec(2, 64, true, CountScale.Raw), old);
        Assert.False(old.Descriptors);
        Assert.Equal(64, old.FeatureSize);
        var written = JsonSerializer.Serialize(new FeaturizerSpec(2, 64, true, CountScale.Log), Checkpoint.Json);
        Assert.Contains("\"count_scale\": \"log\"", written.Replace(":\"", ": \""));
        Assert.Equal(CountScale.Log, JsonSerializer.Deserialize<FeaturizerSpec>(written, Checkpoint.Json)!.CountScale);
    }

    [Fact]
    public void Descriptors_are_written_and_read_and_widen_the_input_but_not_the_json()
    {
        var written = JsonSerializer.Serialize(new FeaturizerSpec(2, 64, true, CountScale.Log, Descriptors: true, DescriptorSet: 2), Checkpoint.Json);
        Assert.DoesNotContain("feature_size", written);
        var read = JsonSerializer.Deserialize<FeaturizerSpec>(written, Checkpoint.Json)!;
        Assert.True(read.Descriptors);
        Assert.Equal(2, read.DescriptorSet);
        Assert.Equal(64 + MtnnCluster.Chem.MoleculeDescriptors.Count(2), read.FeatureSize);
    }

    [Fact]
    public void Descriptors_written_before_sets_were_named_read_as_the_first_set()
    {
        var old = JsonSerializer.Deserialize<FeaturizerSpec>("""{"radius": 2, "bits": 64, "counts": true, "count_scale": "log", "descriptors": true}""", Checkpoint.Json)!;
        Assert.Equal(1, old.DescriptorSet);
        Assert.Equal(64 + 44, old.FeatureSize);
    }

    [Fact]
    public void A_model_written_before_input_dropout_reads_as_none()
    {
        var old = JsonSerializer.Deserialize<ModelSpec>("""{"layers": [8], "dropout": 0.25}""", Checkpoint.Json)!;
        Assert.Equal(0, old.InputDropout);
        Assert.Equal(0.25, old.Dropout);
    }
}
