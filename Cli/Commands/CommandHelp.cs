using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>--help</c> grouped by topic (<see cref="OptionGroups"/>), with examples and required options marked, and the
/// same text as Markdown for docs/options.md (<c>mtnn docs options</c>), so the reference cannot drift from the
/// definitions.
/// </summary>
public static class CommandHelp
{
    /// <summary>Two or three command lines for each command, shown under its help.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Examples = new Dictionary<string, string[]>
    {
        ["train"] =
        [
            "mtnn train --data examples/tox21.csv --out runs/tox21",
            "mtnn train --data examples/tox21.csv --out runs/tox21-graph --trunk graph --molecule-features descriptors",
            "mtnn train --data examples/tox21.csv --out runs/tox21-ensemble --ensemble 3",
            "mtnn train --data examples/fsmol-train.csv.gz --label-conflicts drop --split scaffold --out runs/fsmol",
        ],
        ["tune"] =
        [
            "mtnn tune --data examples/tox21.csv --out runs/tox21-tune --trials 8 --budget 20",
            "mtnn tune --data examples/tox21.csv --out runs/tox21-tune --trials 16 --bind 10.0.0.1:4053 --start-with 4",
        ],
        ["predict"] =
        [
            "mtnn predict --checkpoint runs/tox21 --data examples/molecules.csv --out predictions.csv",
            "mtnn predict --checkpoint runs/tox21-ensemble --data examples/molecules.csv --tasks NR-AR,SR-p53 --out p.csv",
        ],
        ["add-tasks"] =
        [
            "mtnn add-tasks --checkpoint runs/tox21 --data examples/new-assays.csv --out runs/tox21-plus",
            "mtnn add-tasks --checkpoint runs/tox21 --data examples/new-assays.csv --out runs/tox21-plus --bind 10.0.0.1:4053 --min-workers 2",
        ],
        ["featurize"] =
        [
            "mtnn featurize --data examples/molecules.csv --from-checkpoint runs/tox21 --out features.csv",
            "mtnn featurize --data examples/tox21.csv --bits 1024 --descriptors false --format svmlight --out tox21.svm",
        ],
        ["report"] = ["mtnn report --run runs/tox21"],
        ["coordinator"] =
        [
            "mtnn coordinator --bind 10.0.0.1:4053 --min-workers 2 --data examples/tox21.csv --out runs/tox21-cluster",
            "mtnn coordinator --bind 10.0.0.1:4053 --seeds 0,1,2 --data examples/tox21.csv --out runs/tox21-seeds",
        ],
        ["worker"] =
        [
            "mtnn worker --seed 10.0.0.1:4053 --bind 10.0.0.2:0",
            "mtnn worker --seed 10.0.0.1:4053 --bind 10.0.0.2:0 --device cuda:0 --id gpu-0",
        ],
    };

    /// <summary>Options that a command needs but the parser cannot require (another option may stand in for them).</summary>
    private static readonly Dictionary<string, string> RequiredUnless = new(StringComparer.Ordinal)
    {
        ["train --data"] = "required, unless --resume DIR",
        ["train --out"] = "required, unless --resume DIR",
        ["coordinator --data"] = "required, unless --resume DIR",
        ["coordinator --out"] = "required, unless --resume DIR",
        ["tune --data"] = "required",
        ["tune --out"] = "required",
    };

    public static string? RequiredNote(Command command, Option option) =>
        option.Required ? "required" : RequiredUnless.GetValueOrDefault($"{command.Name} {option.Name}");

    /// <summary>Replaces the help option's action on the root (and so every command) with <see cref="Write"/>.</summary>
    public static void Install(RootCommand root)
    {
        foreach (var help in root.Options.OfType<HelpOption>()) help.Action = new GroupedHelpAction();
    }

    private sealed class GroupedHelpAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            Write(parseResult.CommandResult.Command, parseResult.InvocationConfiguration.Output, Width());
            return ExitCodes.Done;
        }
    }

    private static int Width()
    {
        try
        {
            return Console.IsOutputRedirected ? 100 : Math.Clamp(Console.WindowWidth, 60, 160);
        }
        catch (IOException)
        {
            return 100;
        }
    }

    public static string Label(Option option) => option.ValueType == typeof(bool) ? option.Name : $"{option.Name} {ValueName(option)}";

    private static string ValueName(Option option)
    {
        if (option.HelpName is { } name) return name;
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        if (type.IsArray) type = type.GetElementType()!;
        return type == typeof(int) ? "N" : type == typeof(double) ? "X" : type == typeof(FileInfo) ? "FILE" : type == typeof(DirectoryInfo) ? "DIR" : "VALUE";
    }

    public static string? Default(Option option)
    {
        if (!option.HasDefaultValue) return null;
        return option.GetDefaultValue() switch
        {
            null => null,
            bool b => b ? "true" : "false",
            string s => s,
            System.Collections.IEnumerable list => string.Join(",", list.Cast<object>()),
            IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            var other => other.ToString(),
        };
    }

    public static string Path(Command command)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is Command c; s = c.Parents.FirstOrDefault())
            names.Insert(0, c is RootCommand ? "mtnn" : c.Name);
        return string.Join(' ', names);
    }

    /// <summary>The help of one command (or the list of commands for the root), wrapped to <paramref name="width"/>.</summary>
    public static void Write(Command command, TextWriter output, int width)
    {
        var text = new StringBuilder();
        text.AppendLine($"{Path(command)}: {command.Description}");
        text.AppendLine();
        var subcommands = command.Subcommands.Where(c => !c.Hidden).ToList();
        if (subcommands.Count > 0)
        {
            text.AppendLine("Usage: mtnn <command> [options]    (mtnn <command> --help: its options and examples)");
            text.AppendLine();
            text.AppendLine("Commands:");
            var pad = subcommands.Max(c => c.Name.Length) + 4;
            foreach (var sub in subcommands) Wrapped(text, "  " + sub.Name, pad, sub.Description ?? "", width);
            text.AppendLine();
            text.AppendLine("Start with: mtnn train --data examples/tox21.csv --out runs/tox21 (README.md, Quick start)");
            output.Write(text.ToString());
            return;
        }
        var listed = OptionGroups.Listed(command);
        var required = listed.Where(o => RequiredNote(command, o) is not null).Select(Label);
        text.AppendLine($"Usage: {Path(command)} {string.Join(' ', required)} [options]".Replace("  ", " "));
        if (Examples.TryGetValue(command.Name, out var examples))
        {
            text.AppendLine();
            text.AppendLine("Examples:");
            foreach (var example in examples) text.AppendLine($"  {example}");
        }
        var labelWidth = Math.Min(30, listed.Select(o => Label(o).Length).DefaultIfEmpty(0).Max() + 3);
        foreach (var group in OptionGroups.Order)
        {
            var options = listed.Where(o => OptionGroups.Of(command, o) == group).ToList();
            if (options.Count == 0) continue;
            text.AppendLine();
            text.AppendLine($"{group}:");
            foreach (var option in options)
            {
                var notes = new[] { RequiredNote(command, option), Default(option) is { } d ? $"default: {d}" : null }.Where(n => n is not null);
                var description = option.Description ?? "";
                if (notes.Any()) description += $" [{string.Join("; ", notes)}]";
                Wrapped(text, $"  {Label(option)}", labelWidth, description, width);
            }
        }
        text.AppendLine();
        text.AppendLine("  -h, --help".PadRight(labelWidth) + "this help");
        output.Write(text.ToString());
    }

    /// <summary>A label and its description wrapped in a column from <paramref name="column"/>; a label too long for it gets a line of its own.</summary>
    private static void Wrapped(StringBuilder text, string label, int column, string description, int width)
    {
        if (label.Length >= column)
        {
            text.AppendLine(label);
            label = "";
        }
        var room = Math.Max(30, width - column);
        var line = new StringBuilder();
        foreach (var word in description.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > room)
            {
                text.AppendLine(label.PadRight(column) + line);
                label = "";
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        text.AppendLine(label.PadRight(column) + line);
    }

    /// <summary>docs/options.md: every visible command, its examples, and its options grouped as help groups them.</summary>
    public static string Markdown(RootCommand root)
    {
        var text = new StringBuilder();
        text.AppendLine("# Option reference");
        text.AppendLine();
        text.AppendLine("<!-- Generated by `./mtnn docs options > docs/options.md` from the command line's own definitions;");
        text.AppendLine("     a test fails when this file and the definitions differ. Edit the descriptions in Cli/Commands, not here. -->");
        text.AppendLine();
        text.AppendLine("Every command also prints this with `--help`. A usage error (an unknown option, a bad value, a missing");
        text.AppendLine("required option) exits with code 2 (see [fault tolerance](fault-tolerance.md#exit-codes)).");
        text.AppendLine();
        foreach (var command in root.Subcommands.Where(c => !c.Hidden))
            text.Append($"- [`mtnn {command.Name}`](#mtnn-{command.Name}): {command.Description}\n");
        foreach (var command in root.Subcommands.Where(c => !c.Hidden))
        {
            text.AppendLine();
            text.AppendLine($"## mtnn {command.Name}");
            text.AppendLine();
            text.AppendLine(command.Description);
            if (Examples.TryGetValue(command.Name, out var examples))
            {
                text.AppendLine();
                text.AppendLine("```bash");
                foreach (var example in examples) text.AppendLine("./" + example);
                text.AppendLine("```");
            }
            var listed = OptionGroups.Listed(command);
            foreach (var group in OptionGroups.Order)
            {
                var options = listed.Where(o => OptionGroups.Of(command, o) == group).ToList();
                if (options.Count == 0) continue;
                text.AppendLine();
                text.AppendLine($"**{group}**");
                text.AppendLine();
                text.AppendLine("| option | default | meaning |");
                text.AppendLine("| --- | --- | --- |");
                foreach (var option in options)
                {
                    var defaultCell = RequiredNote(command, option) ?? (Default(option) is { } d ? $"`{d}`" : "");
                    text.AppendLine($"| `{Label(option)}` | {Cell(defaultCell)} | {Cell(option.Description ?? "")} |");
                }
            }
        }
        return text.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\r", "").Replace("\n", " ");
}
