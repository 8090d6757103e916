using System.CommandLine;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>The `mtnn` commands as a user types them: outputs written, bad options refused with a clear error.</summary>
[Collection("console")]
public sealed class CommandLineTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-cli-{Guid.NewGuid():N}");

    public CommandLineTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<(int Code, string Error)> Run(params string[] args)
    {
        var root = new RootCommand { TrainCommand.Create(), PredictCommand.Create(), FeaturizeCommand.Create() };
        var error = new StringWriter();
        var original = Console.Error;
        Console.SetError(error);
        try
        {
            return (await root.Parse(args).InvokeAsync(), error.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }

    [Fact]
    public async Task Featurize_writes_the_features_training_computes_one_row_per_molecule()
    {
        var csv = Path.Combine(_directory, "in.csv");
        File.WriteAllLines(csv, ["smiles,y", "c1ccccc1,1", "C1CC,0", "CCO,"]);
        var output = Path.Combine(_directory, "fp.csv");
        var (code, _) = await Run("featurize", "--data", csv, "--out", output, "--bits", "64");
        Assert.Equal(0, code);
        var lines = File.ReadAllLines(output);
        var spec = new FeaturizerSpec(2, 64, true, CountScale.Log, true, MtnnCluster.Chem.MoleculeDescriptors.LatestSet); // train's defaults at 64 bits
        Assert.Equal(["smiles", "error", .. FeaturizeCommand.FeatureNames(spec)], lines[0].Split(','));
        Assert.Equal(4, lines.Length);
        var trained = FeatureEncoding.Featurize(["c1ccccc1", "CCO"], spec).Features;
        foreach (var (line, features) in new[] { (lines[1], trained[0]!), (lines[3], trained[1]!) })
        {
            var cells = line.Split(',');
            var dense = new float[spec.FeatureSize];
            for (var k = 0; k < features.Indices.Length; k++) dense[features.Indices[k]] = features.Values[k];
            Assert.Equal(dense, cells[2..].Select(c => float.Parse(c, System.Globalization.CultureInfo.InvariantCulture)));
        }
        Assert.Matches("^C1CC,[^,]*ring 1 is never closed[^,]*,{" + spec.FeatureSize + "}$", lines[2]); // kept in place, saying why

        var svm = Path.Combine(_directory, "fp.svm");
        (code, _) = await Run("featurize", "--data", csv, "--out", svm, "--bits", "64", "--format", "svmlight");
        Assert.Equal(0, code);
        var sparse = File.ReadAllLines(svm);
        Assert.Equal(3, sparse.Length);
        Assert.Equal("0 " + string.Join(' ', trained[0]!.Indices.Zip(trained[0]!.Values, (i, v) => $"{i}:{v.ToString("G9", System.Globalization.CultureInfo.InvariantCulture)}")) + " # c1ccccc1", sparse[0]);
        Assert.StartsWith("0 # C1CC invalid: ", sparse[1]);
    }

    [Theory]
    [InlineData("--layers", "100,0", "--layers")]
    [InlineData("--epochs", "0", "--epochs")]
    [InlineData("--workers", "0", "--workers")]
    [InlineData("--schedule", "sometimes", "--schedule")]
    [InlineData("--split", "temporal", "--split")]
    [InlineData("--split-fractions", "0.5,0.5", "--split-fractions")]
    [InlineData("--device", "tpu", "--device")]
    public async Task Impossible_configuration_fails_fast_naming_the_option(string option, string value, string named)
    {
        var (code, error) = await Run("train", "--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(_directory, "run"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(named, error);
        Assert.False(File.Exists(Path.Combine(_directory, "run", "metrics.json")));
    }

    [Fact]
    public async Task A_missing_smiles_column_is_named_with_the_file()
    {
        var (code, error) = await Run("train", "--data", RepoPaths.File("examples/tox21.csv"), "--out", Path.Combine(_directory, "run"),
            "--smiles-column", "structure", "--epochs", "1");
        Assert.Equal(2, code);
        Assert.Contains("tox21.csv", error);
        Assert.Contains("structure", error);
    }
}
