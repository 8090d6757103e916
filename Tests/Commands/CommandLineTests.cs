using System.CommandLine;
using MtnnCluster.Cli.Commands;
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
    public async Task Featurize_writes_one_row_per_molecule_with_the_documented_columns()
    {
        var csv = Path.Combine(_directory, "in.csv");
        File.WriteAllLines(csv, ["smiles,y", "c1ccccc1,1", "C1CC,0", "CCO,"]);
        var output = Path.Combine(_directory, "fp.csv");
        var (code, _) = await Run("featurize", "--data", csv, "--out", output, "--bits", "64");
        Assert.Equal(0, code);
        var lines = File.ReadAllLines(output);
        Assert.Equal("smiles,valid,heavy_atoms,unique_environments,bits", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("c1ccccc1,true,6,3,", lines[1]); // benzene: one atom type at each radius 0, 1, 2
        Assert.Equal("C1CC,false,,,", lines[2]);            // unclosed ring: kept in place, marked invalid
        Assert.All(lines[3].Split(',')[4].Split(' '), bit => Assert.InRange(int.Parse(bit), 0, 63));
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
