using System.CommandLine;
using MtnnCluster.Cli.Commands;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// The help and the option reference come from the option definitions; usage errors are one line naming the
/// option, exit code 2, and no .NET text.
/// </summary>
[Collection("console")]
public sealed class HelpAndUsageTests
{
    private static IEnumerable<Command> Commands() => MtnnCommandLine.Create().Subcommands.Where(c => !c.Hidden);

    private static Task<(int Code, string Output, string Error)> Run(params string[] args) => CommandRun.RunMtnn(args);

    [Fact]
    public void Docs_options_md_is_what_the_definitions_generate()
    {
        var committed = File.ReadAllText(RepoPaths.File("docs/options.md")).ReplaceLineEndings("\n");
        var generated = CommandHelp.Markdown(MtnnCommandLine.Create()).ReplaceLineEndings("\n");
        Assert.True(committed == generated,
            "docs/options.md differs from the command line's definitions: run `./mtnn docs options > docs/options.md` and commit it");
    }

    [Fact]
    public void Every_option_of_every_command_has_a_help_topic()
    {
        var unmapped = Commands().SelectMany(c => OptionGroups.Listed(c).Where(o => OptionGroups.Of(c, o) == OptionGroups.Other).Select(o => $"{c.Name} {o.Name}")).ToList();
        Assert.True(unmapped.Count == 0, $"give these options a topic in Cli/Commands/OptionGroups.cs: {string.Join(", ", unmapped)}");
    }

    [Fact]
    public void Every_example_in_help_parses_without_error()
    {
        foreach (var (name, examples) in CommandHelp.Examples)
        {
            Assert.Contains(Commands(), c => c.Name == name);
            foreach (var example in examples)
            {
                var args = example.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray(); // "mtnn"
                var errors = MtnnCommandLine.Create().Parse(args).Errors;
                Assert.True(errors.Count == 0, $"{example}: {string.Join("; ", errors.Select(e => e.Message))}");
            }
        }
        Assert.All(Commands(), c => Assert.True(CommandHelp.Examples.ContainsKey(c.Name), $"{c.Name} has no examples"));
    }

    [Fact]
    public async Task Train_help_groups_options_by_topic_marks_required_ones_and_shows_examples()
    {
        var (code, output, _) = await Run("train", "--help");
        Assert.Equal(0, code);
        var topics = new[] { "Data:", "Model:", "Training:", "Output:", "Observability:" }.Select(t => output.IndexOf($"\n{t}\n", StringComparison.Ordinal)).ToArray();
        Assert.All(topics, i => Assert.True(i > 0));
        Assert.Equal(topics.Order(), topics); // in the documented order
        Assert.Contains("Examples:\n  mtnn train --data examples/tox21.csv --out runs/tox21", output.ReplaceLineEndings("\n"));
        Assert.Matches(@"--data VALUE[\s\S]*\[required, unless --resume DIR\]", output);
        Assert.True(output.IndexOf("--lr", StringComparison.Ordinal) > output.IndexOf("\nTraining:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bare_mtnn_lists_the_commands_and_exits_2()
    {
        var (code, _, error) = await Run();
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("train", error);
        Assert.Contains("error: no command given", error);
    }

    [Fact]
    public async Task An_unknown_option_is_named_once_with_exit_2()
    {
        var (code, _, error) = await Run("train", "--data", "x.csv", "--out", "o", "--learning-rate", "0.1");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal(["error: '--learning-rate' is not an option of mtnn train", "(mtnn train --help lists the options)"], Lines(error));
    }

    /// <summary>
    /// Every option whose value the parser converts (numbers, booleans) given a word: exit 2, one error naming the
    /// option, nothing from .NET (type names, exception text) and no help dump.
    /// </summary>
    [Fact]
    public async Task Every_typed_option_with_a_bad_value_is_refused_naming_it()
    {
        var swept = 0;
        foreach (var command in Commands())
        {
            foreach (var option in OptionGroups.Listed(command))
            {
                var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
                if (type != typeof(int) && type != typeof(double) && type != typeof(bool)) continue;
                var (code, output, error) = await Run(command.Name, option.Name, "abc");
                var what = $"{command.Name} {option.Name} abc";
                Assert.True(code == ExitCodes.BadInput, $"{what}: exit {code}");
                Assert.Contains($"error: {option.Name}: 'abc' is not ", error);
                Assert.DoesNotContain("System.", error + output);
                Assert.DoesNotContain("Exception", error + output);
                Assert.DoesNotContain("Usage:", error + output);
                swept++;
            }
        }
        Assert.True(swept > 40, $"only {swept} options swept");
    }

    [Fact]
    public async Task A_missing_value_and_a_missing_required_option_are_named()
    {
        var (code, _, error) = await Run("predict", "--data", "x.csv", "--out", "p.csv", "--tasks");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("error: --checkpoint is required", error);
        Assert.Contains("error: --tasks needs a value", error);
    }

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Outputs_and_models_that_are_not_what_an_option_needs_are_named_with_the_option()
    {
        var directory = Directory.CreateTempSubdirectory("mtnn-usage-").FullName;
        try
        {
            var file = Path.Combine(directory, "a-file");
            File.WriteAllText(file, "");
            var molecules = RepoPaths.File("examples/molecules.csv");
            var (code, _, error) = await Run("train", "--data", RepoPaths.File("examples/tox21.csv"), "--out", file);
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains($"error: --out: {file} is a file, not a directory", error);

            (code, _, error) = await Run("predict", "--checkpoint", Path.Combine(directory, "nowhere"), "--data", molecules, "--out", Path.Combine(directory, "p.csv"));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains($"error: --checkpoint: {Path.Combine(directory, "nowhere")} does not exist", error);

            (code, _, error) = await Run("predict", "--checkpoint", directory, "--data", molecules, "--out", Path.Combine(directory, "p.csv"));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains($"error: --checkpoint: {directory} is not a model", error); // exists, holds none: another message

            (code, _, error) = await Run("predict", "--checkpoint", directory, "--data", molecules, "--out", directory);
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains($"error: --out: {directory} is a directory", error);
            Assert.DoesNotContain("Exception", error);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
