using System.CommandLine;
using System.Text.RegularExpressions;
using MtnnCluster.Cli.Commands;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// The data options mean the same on every command that reads molecules, and an option a message suggests is one the
/// command that printed it takes (add-tasks once suggested --label-conflicts drop, which it refused).
/// </summary>
[Collection("console")]
public sealed class DataOptionsTests : IDisposable
{
    private static readonly string[] Readers = ["train", "add-tasks", "predict", "featurize"];
    private static readonly string[] DataOptions = ["--smiles-column", "--task-column", "--label-column", "--label-conflicts"];
    private readonly string _directory = Directory.CreateTempSubdirectory("mtnn-data-options-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Command Command(string name) => MtnnCommandLine.Create().Subcommands.Single(c => c.Name == name);

    [Fact]
    public void Every_command_that_reads_molecules_takes_the_data_options_with_one_meaning()
    {
        foreach (var name in DataOptions.Skip(1)) // the long-format options: one definition (LongFormatOptions)
        {
            var descriptions = Readers.Select(r => Command(r).Options.SingleOrDefault(o => o.Name == name)?.Description).ToArray();
            Assert.All(descriptions, d => Assert.NotNull(d));
            Assert.Single(descriptions.Distinct());
        }
        Assert.All(Readers, r => Assert.Contains(Command(r).Options, o => o.Name == "--smiles-column"));
    }

    [Fact]
    public async Task A_long_file_with_a_conflicting_label_is_refused_suggesting_an_option_each_command_takes_and_read_with_it()
    {
        var data = Path.Combine(_directory, "long.csv");
        // carbon chains of 1 to 60 atoms, labelled in turn, and the first labelled again with the other value: a conflict
        File.WriteAllLines(data, ["smiles,task,label", .. Enumerable.Range(1, 60).Select(n => $"{new string('C', n)},t1,{n % 2}"), "C,t1,0"]);
        var train = new[] { "train", "--data", data, "--out", Path.Combine(_directory, "run"), "--epochs", "1", "--layers", "8", "--bits", "64" };
        var (code, output, error) = await Run(train);
        Assert.True(code == ExitCodes.BadInput, $"train: exit {code}\n{output}{error}");
        var suggested = Regex.Matches(error, @"--[a-z][a-z-]+").Select(m => m.Value).Distinct().ToArray();
        Assert.Contains("--label-conflicts", suggested);
        var options = Command("train").Options.Select(o => o.Name).ToHashSet();
        Assert.All(suggested, s => Assert.True(options.Contains(s), $"train suggests {s}, which it does not take:\n{error}"));
        (code, output, error) = await Run([.. train, "--label-conflicts", "drop"]);
        Assert.True(code == 0, $"train --label-conflicts drop: exit {code}\n{output}{error}");

        // featurize reads no labels, so no conflict stops it; the option is taken all the same, as train takes it
        (code, output, error) = await Run("featurize", "--data", data, "--bits", "64", "--label-conflicts", "drop", "--out", Path.Combine(_directory, "f.csv"));
        Assert.True(code == 0, $"featurize: exit {code}\n{output}{error}");
        Assert.Equal(61, File.ReadAllLines(Path.Combine(_directory, "f.csv")).Length); // one row per molecule
        (code, _, error) = await Run("featurize", "--data", data, "--bits", "64", "--label-conflicts", "sometimes", "--out", Path.Combine(_directory, "g.csv"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--label-conflicts must be error or drop", error);
    }

    [Fact]
    public async Task A_tab_separated_file_is_read_like_a_comma_separated_one_and_a_semicolon_one_is_refused_with_a_hint()
    {
        var tsv = Path.Combine(_directory, "molecules.tsv");
        File.WriteAllLines(tsv, ["smiles\tname", "CCO\tethanol", "c1ccccc1\tbenzene"]);
        var (code, _, error) = await Run("featurize", "--data", tsv, "--bits", "32", "--descriptors", "false", "--out", Path.Combine(_directory, "t.csv"));
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(Path.Combine(_directory, "t.csv"));
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("CCO,,", lines[1]);

        var sniffed = Path.Combine(_directory, "molecules.txt"); // tabs, no comma in the header, another name
        File.Copy(tsv, sniffed);
        (code, _, error) = await Run("featurize", "--data", sniffed, "--bits", "32", "--out", Path.Combine(_directory, "s.csv"));
        Assert.True(code == 0, error);

        var semicolons = Path.Combine(_directory, "molecules.csv");
        File.WriteAllLines(semicolons, ["smiles;name", "CCO;ethanol"]);
        (code, _, error) = await Run("featurize", "--data", semicolons, "--bits", "32", "--out", Path.Combine(_directory, "x.csv"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("there is no SMILES column 'smiles'", error);
        Assert.Contains("separated by ';'", error);
    }

    private static Task<(int Code, string Output, string Error)> Run(params string[] args) => CommandRun.RunMtnn(args);
}
