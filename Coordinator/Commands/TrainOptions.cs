using System.CommandLine;
using MtnnCluster.Coordinator.Output;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator.Commands;

/// <summary>The options that describe a training run, shared by <c>train</c> (and, later, <c>coordinator</c>).</summary>
public sealed class TrainOptions
{
    public Option<FileInfo> Data { get; } = new("--data") { Description = "CSV (or .csv.gz) of SMILES and task labels", Required = true };
    public Option<string> SmilesColumn { get; } = new("--smiles-column") { Description = "name of the SMILES column", DefaultValueFactory = _ => "smiles" };
    public Option<string?> Tasks { get; } = new("--tasks") { Description = "comma-separated task columns (default: every other column)" };
    public Option<string?> RegressionTasks { get; } = new("--regression-tasks") { Description = "tasks to treat as regression whatever their values" };
    public Option<string?> ClassificationTasks { get; } = new("--classification-tasks") { Description = "tasks to treat as 0/1 classification" };
    public Option<string> Split { get; } = new("--split") { Description = "random or scaffold (Bemis-Murcko)", DefaultValueFactory = _ => "random" };
    public Option<string> SplitFractions { get; } = new("--split-fractions") { Description = "train,valid,test fractions", DefaultValueFactory = _ => "0.8,0.1,0.1" };
    public Option<int> Seed { get; } = new("--seed") { Description = "seed for the split, initialisation, shuffling and dropout", DefaultValueFactory = _ => 0 };
    public Option<string> Schedule { get; } = new("--schedule") { Description = "joint, or alternate (ATE-SG: trunk-only and head-only epochs in turn)", DefaultValueFactory = _ => "joint" };
    public Option<int> Epochs { get; } = new("--epochs") { Description = "most epochs to train (early stopping may end sooner)", DefaultValueFactory = _ => 40 };
    public Option<int> TrunkEpochs { get; } = new("--trunk-epochs") { Description = "alternate schedule: trunk-only epochs per cycle", DefaultValueFactory = _ => 1 };
    public Option<int> HeadEpochs { get; } = new("--head-epochs") { Description = "alternate schedule: head-only epochs per cycle", DefaultValueFactory = _ => 1 };
    public Option<int> SyncEvery { get; } = new("--sync-every") { Description = "1: one reduced trunk step per batch; K: K local trunk steps per worker, then the trunks are averaged", DefaultValueFactory = _ => 1 };
    public Option<int> Patience { get; } = new("--patience") { Description = "stop after this many epochs without a better validation score (0: never)", DefaultValueFactory = _ => 5 };
    public Option<string> Layers { get; } = new("--layers") { Description = "trunk hidden layer sizes", DefaultValueFactory = _ => "2000,100" };
    public Option<double> Dropout { get; } = new("--dropout") { Description = "dropout after each trunk layer", DefaultValueFactory = _ => 0.25 };
    public Option<double> LearningRate { get; } = new("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "decoupled weight decay (AdamW)", DefaultValueFactory = _ => 1e-4 };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "rows per step", DefaultValueFactory = _ => 128 };
    public Option<bool> BalancePositives { get; } = new("--balance-positives") { Description = "weigh each task's positives by its negative/positive ratio" };
    public Option<int> Radius { get; } = new("--radius") { Description = "ECFP radius (2 = ECFP4)", DefaultValueFactory = _ => 2 };
    public Option<int> Bits { get; } = new("--bits") { Description = "fingerprint length", DefaultValueFactory = _ => 2048 };
    public Option<bool> Counts { get; } = new("--counts") { Description = "count fingerprint instead of bits" };
    public Option<DirectoryInfo> Out { get; } = new("--out") { Description = "output directory: metrics.json and checkpoint/", Required = true };
    public Option<bool> Overwrite { get; } = new("--overwrite") { Description = "let --out hold another run's metrics.json and checkpoint/, and replace them" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, SmilesColumn, Tasks, RegressionTasks, ClassificationTasks, Split, SplitFractions, Seed, Schedule,
                     Epochs, TrunkEpochs, HeadEpochs, Patience, SyncEvery, Layers, Dropout, LearningRate, WeightDecay, BatchSize, BalancePositives,
                     Radius, Bits, Counts, Out, Overwrite })
            command.Options.Add(option);
    }

    /// <summary>The --out directory, refused when it holds another run (see <see cref="OutputDirectory"/>).</summary>
    public string ClaimOut(ParseResult p, string? resumeRunId = null) =>
        OutputDirectory.Claim(p.GetValue(Out)!.FullName, p.GetValue(Overwrite), resumeRunId);

    public RunSpec ToSpec(ParseResult p)
    {
        var fractions = ParseList(p.GetValue(SplitFractions)!, "--split-fractions", double.Parse);
        if (fractions.Length != 3) throw new ArgumentException($"--split-fractions needs three numbers (got '{p.GetValue(SplitFractions)}')");
        var schedule = p.GetValue(Schedule)!.ToLowerInvariant() switch
        {
            "joint" => ScheduleKind.Joint,
            "alternate" or "ate-sg" => ScheduleKind.Alternate,
            var other => throw new ArgumentException($"--schedule must be joint or alternate (got '{other}')"),
        };
        var spec = new RunSpec(
            new DatasetSpec(p.GetValue(Data)!.FullName, p.GetValue(SmilesColumn)!, Names(p.GetValue(Tasks)), Names(p.GetValue(RegressionTasks)), Names(p.GetValue(ClassificationTasks))),
            new FeaturizerSpec(p.GetValue(Radius), p.GetValue(Bits), p.GetValue(Counts)),
            new SplitSpec(p.GetValue(Split)!.ToLowerInvariant(), p.GetValue(Seed), fractions[0], fractions[1], fractions[2]),
            new ModelSpec(ParseList(p.GetValue(Layers)!, "--layers", int.Parse), p.GetValue(Dropout)),
            new OptimizerSpec(p.GetValue(LearningRate), p.GetValue(WeightDecay), p.GetValue(BatchSize), p.GetValue(BalancePositives)),
            new ScheduleSpec(schedule, p.GetValue(Epochs), p.GetValue(TrunkEpochs), p.GetValue(HeadEpochs), p.GetValue(Patience), p.GetValue(SyncEvery)),
            p.GetValue(Seed));
        spec.Validate();
        if (!File.Exists(spec.Dataset.Path)) throw new ArgumentException($"--data: {spec.Dataset.Path} does not exist");
        return spec;
    }

    private static string[]? Names(string? list) =>
        string.IsNullOrWhiteSpace(list) ? null : list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static T[] ParseList<T>(string text, string option, Func<string, IFormatProvider, T> parse)
    {
        try
        {
            return text.Split(',', StringSplitOptions.TrimEntries).Select(s => parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new ArgumentException($"{option}: '{text}' is not a comma-separated list of numbers");
        }
    }
}
