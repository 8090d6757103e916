using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using MtnnCluster.Cli.Output;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// The whole <c>mtnn</c> command line: its commands, the grouped help, and usage errors as one <c>error:</c> line
/// each naming the option, with exit code 2 (System.CommandLine's own handling prints the full help and exits 1,
/// with .NET type names in its messages).
/// </summary>
public static partial class MtnnCommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("massively multitask neural networks for molecules, on one machine or an Akka.NET cluster")
        {
            TrainCommand.Create(),
            TuneCommand.Create(),
            PredictCommand.Create(),
            AddTasksCommand.Create(),
            FeaturizeCommand.Create(),
            ReportCommand.Create(),
            ClusterCommands.Coordinator(),
            ClusterCommands.Worker(),
        };
        root.Subcommands.Add(DocsCommand(root));
        CommandHelp.Install(root);
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; a usage error prints its lines to standard error and returns 2 without running anything.</summary>
    public static async Task<int> InvokeAsync(string[] args, InvocationConfiguration? configuration = null)
    {
        var root = Create();
        RunOutputs.CommandLine = RunOutputs.Quote(args.Prepend("mtnn"));
        var parse = root.Parse(args);
        if (parse.Action is HelpAction || parse.Action?.GetType().DeclaringType == typeof(CommandHelp))
            return await parse.InvokeAsync(configuration);
        if (parse.Errors.Count > 0)
        {
            var command = parse.CommandResult.Command;
            if (command is RootCommand && parse.Tokens.Count == 0)
            {
                CommandHelp.Write(root, Console.Error, 100);
                await Console.Error.WriteLineAsync("error: no command given (see the list above)");
                return ExitCodes.BadInput;
            }
            // an unknown option's value is reported as unknown too: name the option alone
            var errors = parse.Errors.Where(e => !(Unrecognized().Match(e.Message) is { Success: true } u && !u.Groups["token"].Value.StartsWith('-')
                                                   && parse.Errors.Any(o => Unrecognized().Match(o.Message) is { Success: true } v && v.Groups["token"].Value.StartsWith('-'))));
            foreach (var message in errors.Select(e => AfterFlag(e, args, command) ?? Message(e, command)).Distinct())
                await Console.Error.WriteLineAsync($"error: {message}");
            await Console.Error.WriteLineAsync($"({CommandHelp.Path(command)} --help lists the options)");
            return ExitCodes.BadInput;
        }
        return await parse.InvokeAsync(configuration);
    }

    /// <summary>One parse error as a user reads it: the option named, the value quoted, what was expected in words.</summary>
    public static string Message(ParseError error, Command command)
    {
        var text = error.Message;
        if (CannotParse().Match(text) is { Success: true } bad)
        {
            var option = error.SymbolResult is OptionResult r ? r.Option : command.Options.FirstOrDefault(o => o.Name == bad.Groups["option"].Value || o.Aliases.Contains(bad.Groups["option"].Value));
            var name = option?.Name ?? bad.Groups["option"].Value;
            return $"{name}: '{bad.Groups["value"].Value}' is not {Expected(option?.ValueType)}";
        }
        if (IsRequired().Match(text) is { Success: true } required) return $"{required.Groups["option"].Value} is required";
        if (NoValue().Match(text) is { Success: true } missing) return $"{missing.Groups["option"].Value} needs a value";
        if (Unrecognized().Match(text) is { Success: true } unknown)
            return $"'{unknown.Groups["token"].Value}' is not an option of {CommandHelp.Path(command)}" + Suggestion(unknown.Groups["token"].Value, command);
        // anything else System.CommandLine says, without .NET type names
        return TypeName().Replace(text, m => Expected(Type.GetType(m.Groups["type"].Value)));
    }

    /// <summary>A word after a true/false option (<c>--counts abc</c>) is parsed as a stray argument: name the option instead.</summary>
    private static string? AfterFlag(ParseError error, string[] args, Command command)
    {
        if (Unrecognized().Match(error.Message) is not { Success: true } m || m.Groups["token"].Value.StartsWith('-')) return null;
        var at = Array.IndexOf(args, m.Groups["token"].Value);
        if (at < 1 || OptionGroups.Listed(command).FirstOrDefault(o => o.Name == args[at - 1] || o.Aliases.Contains(args[at - 1])) is not { } flag) return null;
        return flag.ValueType == typeof(bool) ? $"{flag.Name}: '{args[at]}' is not true or false" : null;
    }

    private static string Suggestion(string token, Command command)
    {
        var near = OptionGroups.Listed(command).Select(o => o.Name).Where(n => token.StartsWith("--") && (n.Contains(token[2..]) || token.Contains(n[2..]))).Take(3).ToList();
        return near.Count > 0 ? $" (did you mean {string.Join(" or ", near)}?)" : "";
    }

    private static string Expected(Type? type)
    {
        type = Nullable.GetUnderlyingType(type ?? typeof(string)) ?? type;
        if (type is { IsArray: true }) type = type.GetElementType();
        return type switch
        {
            _ when type == typeof(int) || type == typeof(long) => "a whole number",
            _ when type == typeof(double) || type == typeof(float) => "a number",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(FileInfo) => "a file path",
            _ when type == typeof(DirectoryInfo) => "a directory path",
            _ => "a valid value",
        };
    }

    [GeneratedRegex(@"Cannot parse argument '(?<value>.*)' for option '(?<option>[^']*)'")]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"Option '(?<option>[^']*)' is required")]
    private static partial Regex IsRequired();

    [GeneratedRegex(@"Required argument missing for option: '(?<option>[^']*)'")]
    private static partial Regex NoValue();

    [GeneratedRegex(@"Unrecognized command or argument '(?<token>.*)'")]
    private static partial Regex Unrecognized();

    [GeneratedRegex(@"(as expected type )?'(?<type>System\.[A-Za-z0-9.`\[\]]+)'")]
    private static partial Regex TypeName();

    /// <summary><c>mtnn docs options</c> (hidden): docs/options.md from the definitions above.</summary>
    private static Command DocsCommand(RootCommand root)
    {
        var topic = new Argument<string>("topic") { Description = "options: the option reference (docs/options.md)" };
        var command = new Command("docs", "print generated documentation") { topic };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            if (parse.GetValue(topic) != "options")
            {
                Console.Error.WriteLine($"error: docs: unknown topic '{parse.GetValue(topic)}' (known: options)");
                return ExitCodes.BadInput;
            }
            Console.Out.Write(CommandHelp.Markdown(root));
            return ExitCodes.Done;
        });
        return command;
    }
}
