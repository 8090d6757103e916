using System.CommandLine;
using System.CommandLine.Help;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// The topic each option is listed under in <c>--help</c> and docs/options.md. Kept apart from the option
/// declarations so that a new option needs one line here; an option missing here falls into <see cref="Other"/>
/// and <c>OptionGroupsTests</c> fails until it is given a topic.
/// </summary>
public static class OptionGroups
{
    public const string Data = "Data";
    public const string Model = "Model";
    public const string Training = "Training";
    public const string Cluster = "Cluster";
    public const string Output = "Output";
    public const string Observability = "Observability";
    public const string Other = "Other";

    /// <summary>The topics in the order help lists them.</summary>
    public static readonly string[] Order = [Data, Model, Training, Cluster, Output, Observability, Other];

    // An option's topic by name; "command --name" overrides it on one command (worker's --seed is a seed node).
    private static readonly Dictionary<string, string> ByName = new(StringComparer.Ordinal)
    {
        ["--data"] = Data,
        ["--eval-datasets"] = Data,
        ["--smiles-column"] = Data,
        ["--task-column"] = Data,
        ["--label-column"] = Data,
        ["--label-conflicts"] = Data,
        ["--tasks"] = Data,
        ["--regression-tasks"] = Data,
        ["--classification-tasks"] = Data,
        ["--split"] = Data,
        ["--split-fractions"] = Data,
        ["--split-seed"] = Data,
        ["--task-weights"] = Data,
        ["--min-class-count"] = Data,

        ["--checkpoint"] = Model,
        ["--from-checkpoint"] = Model,
        ["--trunk"] = Model,
        ["--depth"] = Model,
        ["--hidden-size"] = Model,
        ["--readout"] = Model,
        ["--molecule-features"] = Model,
        ["--graph"] = Model,
        ["--layers"] = Model,
        ["--dropout"] = Model,
        ["--input-dropout"] = Model,
        ["--radius"] = Model,
        ["--bits"] = Model,
        ["--counts"] = Model,
        ["--count-scale"] = Model,
        ["--descriptors"] = Model,
        ["--descriptor-set"] = Model,

        ["--seed"] = Training,
        ["--seeds"] = Training,
        ["--ensemble"] = Training,
        ["--schedule"] = Training,
        ["--epochs"] = Training,
        ["--trunk-epochs"] = Training,
        ["--head-epochs"] = Training,
        ["--sync-every"] = Training,
        ["--patience"] = Training,
        ["--lr"] = Training,
        ["--weight-decay"] = Training,
        ["--batch-size"] = Training,
        ["--balance-positives"] = Training,
        ["--precision"] = Training,
        ["--trials"] = Training,
        ["--budget"] = Training,
        ["--workers"] = Training,
        ["--device"] = Training,

        ["--bind"] = Cluster,
        ["--data-root"] = Cluster,
        ["--data-plane-port"] = Cluster,
        ["--tls-key"] = Cluster,
        ["--public-host"] = Cluster,
        ["--seed-node"] = Cluster,
        ["worker --seed"] = Cluster,
        ["--min-workers"] = Cluster,
        ["--start-with"] = Cluster,
        ["--worker-wait"] = Cluster,
        ["--slots"] = Cluster,
        ["--id"] = Cluster,
        ["--exchange-port"] = Cluster,
        ["--same-host-memory"] = Cluster,
        ["--data-plane"] = Cluster,
        ["--wire-precision"] = Cluster,
        ["--tls-cert"] = Cluster,
        ["--tls-password"] = Cluster,
        ["--tls-ca"] = Cluster,

        ["--out"] = Output,
        ["--overwrite"] = Output,
        ["--checkpoint-every"] = Output,
        ["--keep-checkpoints"] = Output,
        ["--resume"] = Output,
        ["--run"] = Output,
        ["--format"] = Output,

        ["--metrics-port"] = Observability,
        ["--health-port"] = Observability,
        ["--http-bind"] = Observability,
        ["--status-detail"] = Observability,
        ["--verbose"] = Observability,
    };

    public static string Of(Command command, Option option) =>
        ByName.TryGetValue($"{command.Name} {option.Name}", out var own) ? own
        : ByName.TryGetValue(option.Name, out var group) ? group
        : Other;

    /// <summary>The options help lists for <paramref name="command"/>: its own and the recursive ones above it, without --help and --version.</summary>
    public static IReadOnlyList<Option> Listed(Command command) =>
        command.Options.Where(o => !o.Hidden && o is not HelpOption and not VersionOption).ToList();
}
