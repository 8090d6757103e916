using MtnnCluster.Data;
using System.CommandLine;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Output;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Commands;

/// <summary>The options that describe a training run, shared by <c>train</c> (and, later, <c>coordinator</c>).</summary>
public sealed class TrainOptions
{
    public Option<string[]> Data { get; } = new("--data")
    {
        Description = "CSV (or .csv.gz) of SMILES and task labels, or synthetic:ROWS,TASKS,DENSITY[,SEED] for generated data; repeatable: " +
                      "the files' molecules are matched (one row per molecule) and their tasks trained together",
    };
    public Option<string?> EvalDatasets { get; } = new("--eval-datasets")
    {
        Description = "comma-separated datasets (a --data file's name up to the first dot) whose tasks make the validation score (early stopping) and the headline means (default: all)",
    };
    public Option<string> SmilesColumn { get; } = new("--smiles-column") { Description = "name of the SMILES column", DefaultValueFactory = _ => "smiles" };
    public LongFormatOptions LongFormat { get; } = new();
    public Option<string?> Tasks { get; } = new("--tasks") { Description = "comma-separated tasks (default: every task: the other columns of a wide file, every task name of a long one)" };
    public Option<string?> RegressionTasks { get; } = new("--regression-tasks") { Description = "tasks to treat as regression whatever their values" };
    public Option<string?> ClassificationTasks { get; } = new("--classification-tasks") { Description = "tasks to treat as 0/1 classification" };
    public Option<string> Split { get; } = new("--split") { Description = "random or scaffold (Bemis-Murcko)", DefaultValueFactory = _ => "random" };
    public Option<string> SplitFractions { get; } = new("--split-fractions") { Description = "train,valid,test fractions", DefaultValueFactory = _ => "0.8,0.1,0.1" };
    public Option<int> Seed { get; } = new("--seed") { Description = "seed for the split, initialisation, shuffling and dropout", DefaultValueFactory = _ => 0 };
    public Option<int?> SplitSeed { get; } = new("--split-seed") { Description = "seed for the split alone (default: --seed; with --seeds: each seed's own)" };
    public Option<string?> Seeds { get; } = new("--seeds") { Description = "comma-separated seeds: one run per seed in OUT/seed-N/, then the mean ± standard deviation over seeds in OUT/metrics.json (train only)" };
    public Option<int?> EnsembleSize { get; } = new("--ensemble") { Description = "K: train K members with seeds --seed, --seed+1, … on one split, in OUT/member-K/; OUT holds the ensemble for predict (train only)" };
    public Option<string> Schedule { get; } = new("--schedule") { Description = "joint, or alternate (ATE-SG: trunk-only and head-only epochs in turn)", DefaultValueFactory = _ => "joint" };
    public Option<int> Epochs { get; } = new("--epochs") { Description = "most epochs to train (early stopping may end sooner)", DefaultValueFactory = _ => 40 };
    public Option<int> TrunkEpochs { get; } = new("--trunk-epochs") { Description = "alternate schedule: trunk-only epochs per cycle", DefaultValueFactory = _ => 1 };
    public Option<int> HeadEpochs { get; } = new("--head-epochs") { Description = "alternate schedule: head-only epochs per cycle", DefaultValueFactory = _ => 1 };
    public Option<int> SyncEvery { get; } = new("--sync-every") { Description = "1: one reduced trunk step per batch; K: K local trunk steps per worker, then the trunks are averaged", DefaultValueFactory = _ => 1 };
    public Option<int> Patience { get; } = new("--patience") { Description = "stop after this many epochs without a better validation score (0: never)", DefaultValueFactory = _ => 5 };
    public Option<string> Trunk { get; } = new("--trunk")
    {
        Description = "fingerprint (an MLP on the count fingerprint and descriptors) or graph (chemprop's D-MPNN: directed-bond message passing on the molecular graph)",
        DefaultValueFactory = _ => "fingerprint",
    };
    public Option<int> Depth { get; } = new("--depth") { Description = "--trunk graph: message-passing steps", DefaultValueFactory = _ => new GraphSpec().Depth };
    public Option<int> HiddenSize { get; } = new("--hidden-size") { Description = "--trunk graph: width of the bond and atom states", DefaultValueFactory = _ => new GraphSpec().Hidden };
    public Option<string> Readout { get; } = new("--readout") { Description = "--trunk graph: mean, sum or norm (sum / 100) of the atom states", DefaultValueFactory = _ => "mean" };
    public Option<string> MoleculeFeatures { get; } = new("--molecule-features")
    {
        Description = "--trunk graph: molecule-level features beside the graph, comma-separated: descriptors, fingerprint (the --radius/--bits count fingerprint), or none",
        DefaultValueFactory = _ => "none",
    };
    public Option<string> Layers { get; } = new("--layers")
    {
        Description = $"trunk hidden layer sizes (fingerprint: {FingerprintLayers}); with --trunk graph the layers after the readout ({GraphLayers})",
        DefaultValueFactory = _ => FingerprintLayers,
    };
    public Option<double> Dropout { get; } = new("--dropout")
    {
        Description = $"dropout after each trunk layer (fingerprint: {FingerprintDropout}; graph: {GraphDropout}, after the layers that follow the readout)",
        DefaultValueFactory = _ => FingerprintDropout,
    };

    /// <summary>The trunks' defaults where they differ (the graph's are chemprop's: one 300-wide layer after the readout, no dropout).</summary>
    private const string FingerprintLayers = "2000,100", GraphLayers = "300";
    private const double FingerprintDropout = 0.25, GraphDropout = 0;
    public Option<double> InputDropout { get; } = new("--input-dropout") { Description = "the fraction of each molecule's input features dropped in training", DefaultValueFactory = _ => 0 };
    public Option<double> LearningRate { get; } = new("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "decoupled weight decay (AdamW)", DefaultValueFactory = _ => 1e-4 };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "rows per step", DefaultValueFactory = _ => 128 };
    public Option<string> Precision { get; } = new("--precision")
    {
        Description = "fp32; tf32 (CUDA matrix units round float32 inputs to TF32; CUDA only); bf16 (the trunk's layers in bfloat16 on float32 weights; heads and loss in float32)",
        DefaultValueFactory = _ => "fp32",
    };
    public Option<string> WirePrecision { get; } = new("--wire-precision")
    {
        Description = "fp32, or bf16: embeddings and their gradients travel between workers as bfloat16 (half the bytes; trunk reductions stay float32)",
        DefaultValueFactory = _ => "fp32",
    };
    public Option<int> MinClassCount { get; } = new("--min-class-count") { Description = "a classification task enters a split's mean ROC-AUC/PRC-AUC and the validation score only with at least this many positives and negatives there", DefaultValueFactory = _ => Evaluation.MetricSummary.DefaultMinClassCount };
    public Option<FileInfo?> TaskWeights { get; } = new("--task-weights") { Description = "CSV with columns task,weight: each task's training loss is multiplied by its weight (unlisted tasks: 1)" };
    public Option<bool> BalancePositives { get; } = new("--balance-positives") { Description = "weigh each task's positives by its negative/positive ratio" };
    public Option<int> Radius { get; } = new("--radius") { Description = "ECFP radius (2 = ECFP4)", DefaultValueFactory = _ => 2 };
    public Option<int> Bits { get; } = new("--bits") { Description = "fingerprint length", DefaultValueFactory = _ => 2048 };
    public Option<bool> Counts { get; } = new("--counts")
    {
        Description = "count fingerprint (each feature the number of environments folded into it, scaled by --count-scale); --counts false: bits",
        DefaultValueFactory = _ => true,
    };
    public Option<string> CountScale { get; } = new("--count-scale")
    {
        Description = "with --counts: log (each feature log(1 + count)) or raw (the count itself)",
        DefaultValueFactory = _ => "log",
    };
    public Option<bool> Descriptors { get; } = new("--descriptors")
    {
        Description = "append whole-molecule counts (atoms by element, rings, rotatable bonds, donors, acceptors, charges, the graph's shape, functional groups, polar surface area; log(1 + count)) to the fingerprint; --descriptors false: the fingerprint alone",
        DefaultValueFactory = _ => true,
    };
    public Option<int> DescriptorSet { get; } = new("--descriptor-set")
    {
        Description = "with --descriptors: which counts, 1 (44: size, elements, rings, bonds, donors, acceptors, charges; the builds before 2026-12-02) or 2 (those and 39 more: graph shape, functional groups, polar surface area)",
        DefaultValueFactory = _ => MtnnCluster.Chem.MoleculeDescriptors.LatestSet,
    };
    public Option<DirectoryInfo?> Out { get; } = new("--out") { Description = "output directory: metrics.json, report.html, checkpoint/ and checkpoints/" };
    public Option<bool> Overwrite { get; } = new("--overwrite") { Description = "let --out hold another run's outputs, and replace them" };
    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "write a training checkpoint every N epochs (and at the end)", DefaultValueFactory = _ => 1 };
    public Option<int> KeepCheckpoints { get; } = new("--keep-checkpoints") { Description = "training checkpoints kept while the run trains (the newest); given, they also stay when it finishes (else a finished run's are removed: its model is checkpoint/)", DefaultValueFactory = _ => 3 };
    public Option<string?> Resume { get; } = new("--resume") { Description = "DIR: continue the run whose output is DIR, from its newest valid checkpoint; auto: continue --out's run if it has one, else start" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, EvalDatasets, SmilesColumn, LongFormat.TaskColumn, LongFormat.LabelColumn, LongFormat.LabelConflicts, Tasks, RegressionTasks, ClassificationTasks, Split, SplitFractions, Seed, SplitSeed, Schedule,
                     Epochs, TrunkEpochs, HeadEpochs, Patience, SyncEvery, Trunk, Depth, HiddenSize, Readout, MoleculeFeatures, Layers, Dropout, InputDropout, LearningRate, WeightDecay, BatchSize, BalancePositives,
                     MinClassCount, TaskWeights, Precision, WirePrecision, Radius, Bits, Counts, CountScale, Descriptors, DescriptorSet, Out, Overwrite, CheckpointEvery, KeepCheckpoints, Resume })
            command.Options.Add(option);
    }

    /// <summary>
    /// The run the options describe: a new one, or (with <c>--resume DIR</c>) the one whose checkpoints are in DIR,
    /// with the settings it was started with (only <c>--data</c>, if the dataset moved, <c>--out</c>, and
    /// <c>--precision</c> may be given: how the numbers are computed is no property of the model, and a run started
    /// with tf32 on a GPU must be able to go on on a CPU).
    /// <c>--out</c> is claimed here: refused when it holds another run (see <see cref="OutputDirectory"/>).
    /// </summary>
    /// <param name="member">One run of a group (<c>--seeds</c>, <c>--ensemble</c>; never with <c>--resume DIR</c>, see <see cref="Group"/>): its own directory and seed; null: the run the options name.</param>
    public ResolvedRun Resolve(ParseResult p, Func<string> newRunId, Action<string> warn, GroupMember? member = null)
    {
        var policy = new CheckpointPolicy(p.GetValue(CheckpointEvery), p.GetValue(KeepCheckpoints));
        policy.Validate();
        var resume = p.GetValue(Resume);
        var overwrite = p.GetValue(Overwrite);
        if (resume is null || resume == "auto")
        {
            var spec = member is null ? ToSpec(p) : member.Apply(ToSpec(p));
            var outDirectory = member?.OutDirectory ?? Path.GetFullPath((p.GetValue(Out) ?? throw new ArgumentException("--out is required")).FullName);
            if (resume is null)
            {
                var claimed = OutputDirectory.Claim(outDirectory, overwrite);
                var stale = Path.Combine(claimed, TrainingCheckpoint.DirectoryName);
                if (overwrite && Directory.Exists(stale))
                {
                    warn($"--overwrite: removing the previous run's training checkpoints in {stale}");
                    Directory.Delete(stale, recursive: true); // else a resume could pick up the other run's newer epochs
                }
                return new ResolvedRun(newRunId(), spec, claimed, policy, null);
            }
            var previous = OutputDirectory.CheckpointedRunIn(outDirectory) ?? OutputDirectory.FinishedRunIn(outDirectory); // a finished run's checkpoints are removed
            if (previous is not null && OutputDirectory.FinishedRunIn(outDirectory) == previous)
                return new ResolvedRun(previous, spec, outDirectory, policy, null, AlreadyFinished: true);
            return new ResolvedRun(newRunId(), spec, OutputDirectory.Claim(outDirectory, overwrite, previous), policy, new ResumeFrom(outDirectory, Required: false));
        }
        var runDirectory = Path.GetFullPath(resume);
        var given = SpecOptions().Where(o => p.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray();
        if (given.Length > 0)
            throw new ArgumentException($"--resume {resume}: the run keeps the settings it was started with; remove {string.Join(", ", given)}");
        var latest = TrainingCheckpoint.LoadLatest(Path.Combine(runDirectory, TrainingCheckpoint.DirectoryName), warn)
                     ?? throw new ArgumentException($"--resume: {Path.Combine(runDirectory, TrainingCheckpoint.DirectoryName)} holds no training checkpoint");
        var state = latest.Checkpoint.State;
        var resumed = state.Spec;
        if (DataPaths(p) is { } data)
        {
            if (data.Length != resumed.Dataset.Paths.Length)
                throw new ArgumentException($"--resume: the run read {resumed.Dataset.Paths.Length} data file{(resumed.Dataset.Paths.Length > 1 ? "s" : "")} ({string.Join(", ", resumed.Dataset.Paths)}); " +
                                            "give --data once for each, in the same order, or not at all");
            resumed = resumed with { Dataset = resumed.Dataset with { Paths = data } };
        }
        if (p.GetResult(Precision) is { Implicit: false } && PrecisionMode.Parse(p.GetValue(Precision)!) is var precision && precision != resumed.Precision)
        {
            warn($"--precision: the run computed in {resumed.Precision.Name()} so far; it goes on in {precision.Name()}");
            resumed = resumed with { Precision = precision };
        }
        if (p.GetResult(WirePrecision) is { Implicit: false }) resumed = resumed with { Wire = ParseWire(p.GetValue(WirePrecision)!) };
        foreach (var path in resumed.Dataset.Paths)
        {
            if (!Exists(path)) throw new ArgumentException($"--resume: the run's dataset {path} does not exist (give --data if it moved)");
            RequireReadable(path);
        }
        var target = OutputDirectory.Claim(p.GetValue(Out)?.FullName ?? runDirectory, overwrite, state.RunId);
        return new ResolvedRun(state.RunId, resumed, target, policy, new ResumeFrom(runDirectory, Required: true));
    }

    /// <summary>Options that describe the model and its training; fixed for a run once started.</summary>
    private static Training.CountScale ParseCountScale(string text) => text.Trim().ToLowerInvariant() switch
    {
        "log" => Training.CountScale.Log,
        "raw" => Training.CountScale.Raw,
        _ => throw new ArgumentException($"--count-scale must be log or raw (got '{text}')"),
    };

    private static Training.WirePrecision ParseWire(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" => Training.WirePrecision.Fp32,
        "bf16" => Training.WirePrecision.Bf16,
        _ => throw new ArgumentException($"--wire-precision must be fp32 or bf16 (got '{text}')"),
    };

    private IEnumerable<Option> SpecOptions() =>
    [
        EvalDatasets, SmilesColumn, LongFormat.TaskColumn, LongFormat.LabelColumn, LongFormat.LabelConflicts, Tasks, RegressionTasks, ClassificationTasks, Split, SplitFractions, Seed, SplitSeed, Schedule, Epochs, TrunkEpochs, HeadEpochs,
        Patience, SyncEvery, Trunk, Depth, HiddenSize, Readout, MoleculeFeatures, Layers, Dropout, InputDropout, LearningRate, WeightDecay, BatchSize, BalancePositives, MinClassCount, TaskWeights, Radius, Bits, Counts, CountScale, Descriptors, DescriptorSet,
    ];

    public RunSpec ToSpec(ParseResult p)
    {
        var dataPaths = DataPaths(p) ?? throw new ArgumentException("--data is required");
        if (p.GetResult(CountScale) is { Implicit: false } && !p.GetValue(Counts))
            throw new ArgumentException("--count-scale applies to count fingerprints: remove --counts false, or remove --count-scale");
        // synthetic rows have no molecules to count: the default leaves the descriptors out there, asking is refused
        var synthetic = dataPaths.Any(MtnnCluster.Data.SyntheticDataset.IsDescriptor);
        var descriptors = p.GetValue(Descriptors) && !synthetic;
        if (synthetic && p.GetResult(Descriptors) is { Implicit: false } && p.GetValue(Descriptors))
            throw new ArgumentException(PreparedDataset.NoMoleculesToDescribe);
        var descriptorSet = p.GetValue(DescriptorSet);
        if (descriptorSet is < 1 or > MtnnCluster.Chem.MoleculeDescriptors.LatestSet)
            throw new ArgumentException($"--descriptor-set must be 1 to {MtnnCluster.Chem.MoleculeDescriptors.LatestSet} (got {descriptorSet})");
        if (p.GetResult(DescriptorSet) is { Implicit: false } && !descriptors)
            throw new ArgumentException("--descriptor-set applies with descriptors: remove --descriptors false, or remove --descriptor-set");
        var (model, featurizer) = ModelOf(p, new FeaturizerSpec(p.GetValue(Radius), p.GetValue(Bits), p.GetValue(Counts), ParseCountScale(p.GetValue(CountScale)!), descriptors, descriptorSet));
        var fractions = ParseList(p.GetValue(SplitFractions)!, "--split-fractions", double.Parse);
        if (fractions.Length != 3) throw new ArgumentException($"--split-fractions needs three numbers (got '{p.GetValue(SplitFractions)}')");
        var schedule = p.GetValue(Schedule)!.ToLowerInvariant() switch
        {
            "joint" => ScheduleKind.Joint,
            "alternate" or "ate-sg" => ScheduleKind.Alternate,
            var other => throw new ArgumentException($"--schedule must be joint or alternate (got '{other}')"),
        };
        var split = p.GetValue(Split)!.ToLowerInvariant() switch
        {
            "random" => SplitKind.Random,
            "scaffold" => SplitKind.Scaffold,
            var other => throw new ArgumentException($"--split must be random or scaffold (got '{other}')"),
        };
        var spec = new RunSpec(
            new DatasetSpec(dataPaths, p.GetValue(SmilesColumn)!, Names(p.GetValue(Tasks)), Names(p.GetValue(RegressionTasks)), Names(p.GetValue(ClassificationTasks)),
                p.GetValue(LongFormat.TaskColumn), p.GetValue(LongFormat.LabelColumn), LongFormatOptions.ParseConflicts(p.GetValue(LongFormat.LabelConflicts)!),
                p.GetResult(EvalDatasets) is { Implicit: false } ? Names(p.GetValue(EvalDatasets)) ?? [] : null),
            featurizer,
            new SplitSpec(split, p.GetValue(SplitSeed) ?? p.GetValue(Seed), fractions[0], fractions[1], fractions[2]),
            model,
            new OptimizerSpec(p.GetValue(LearningRate), p.GetValue(WeightDecay), p.GetValue(BatchSize), p.GetValue(BalancePositives), p.GetValue(TaskWeights)?.FullName),
            new ScheduleSpec(schedule, p.GetValue(Epochs), p.GetValue(TrunkEpochs), p.GetValue(HeadEpochs), p.GetValue(Patience), p.GetValue(SyncEvery)),
            p.GetValue(Seed),
            PrecisionMode.Parse(p.GetValue(Precision)!),
            p.GetValue(MinClassCount),
            ParseWire(p.GetValue(WirePrecision)!));
        spec.Validate();
        foreach (var path in spec.Dataset.Paths) RequireReadable(path);
        if (spec.Optimizer.TaskWeights is { } weights) InputFile.RequireRegularFile(weights, "--task-weights");
        return spec;
    }

    /// <summary>
    /// The trunk the options describe, and the features it reads: the fingerprint trunk reads the ECFP and (by
    /// default) the descriptors; the graph trunk reads the graph and, beside it, the molecule features asked for.
    /// Options of the other trunk are refused, naming them.
    /// </summary>
    private (ModelSpec Model, FeaturizerSpec Featurizer) ModelOf(ParseResult p, FeaturizerSpec featurizer)
    {
        bool Given(Option option) => p.GetResult(option) is { Implicit: false };
        var kind = p.GetValue(Trunk)!.Trim().ToLowerInvariant() switch
        {
            "fingerprint" => MtnnCluster.Model.TrunkKind.Fingerprint,
            "graph" => MtnnCluster.Model.TrunkKind.Graph,
            var other => throw new ArgumentException($"--trunk must be fingerprint or graph (got '{other}')"),
        };
        var graphOnly = new Option[] { Depth, HiddenSize, Readout, MoleculeFeatures }.Where(Given).Select(o => o.Name).ToArray();
        if (kind == MtnnCluster.Model.TrunkKind.Fingerprint)
        {
            if (graphOnly.Length > 0) throw new ArgumentException($"{string.Join(", ", graphOnly)} appl{(graphOnly.Length > 1 ? "y" : "ies")} to --trunk graph");
            return (new ModelSpec(ParseList(p.GetValue(Layers)!, "--layers", int.Parse), p.GetValue(Dropout), p.GetValue(InputDropout)), featurizer);
        }
        if (Given(Descriptors)) throw new ArgumentException("--descriptors applies to --trunk fingerprint; with --trunk graph, --molecule-features descriptors puts them beside the graph");
        if (Given(InputDropout)) throw new ArgumentException("--input-dropout applies to --trunk fingerprint");
        var wanted = ParseMoleculeFeatures(p.GetValue(MoleculeFeatures)!);
        var fingerprint = wanted.Contains("fingerprint");
        foreach (var option in new Option[] { Radius, Bits, Counts, CountScale })
            if (Given(option) && !fingerprint) throw new ArgumentException($"{option.Name} describes the fingerprint: with --trunk graph add --molecule-features fingerprint");
        var readout = p.GetValue(Readout)!.Trim().ToLowerInvariant() switch
        {
            "mean" => MtnnCluster.Model.GraphReadout.Mean,
            "sum" => MtnnCluster.Model.GraphReadout.Sum,
            "norm" => MtnnCluster.Model.GraphReadout.Norm,
            var other => throw new ArgumentException($"--readout must be mean, sum or norm (got '{other}')"),
        };
        return (new ModelSpec(ParseList(Given(Layers) ? p.GetValue(Layers)! : GraphLayers, "--layers", int.Parse), Given(Dropout) ? p.GetValue(Dropout) : GraphDropout, 0,
                MtnnCluster.Model.TrunkKind.Graph, new GraphSpec(p.GetValue(Depth), p.GetValue(HiddenSize), readout)),
            featurizer with { Fingerprint = fingerprint, Descriptors = wanted.Contains("descriptors"), GraphFeatures = MtnnCluster.Chem.GraphFeatures.Version });
    }

    private static HashSet<string> ParseMoleculeFeatures(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => n.ToLowerInvariant()).ToHashSet();
        var unknown = names.Except(["descriptors", "fingerprint", "none"]).ToArray();
        if (unknown.Length > 0 || names.Count == 0 || (names.Contains("none") && names.Count > 1))
            throw new ArgumentException($"--molecule-features: a comma-separated list of descriptors and fingerprint, or none (got '{text}')");
        names.Remove("none");
        return names;
    }

    /// <summary>
    /// The runs <c>--seeds</c> or <c>--ensemble</c> ask for; null when neither is given. Bad lists and combinations
    /// are refused naming the options.
    /// </summary>
    public RunGroup? Group(ParseResult p)
    {
        var (seeds, ensemble) = (p.GetValue(Seeds), p.GetValue(EnsembleSize));
        if (seeds is null && ensemble is null) return null;
        if (p.GetValue(Resume) is { } resume and not "auto")
            throw new ArgumentException($"--resume {resume} continues one run; with --seeds or --ensemble give --resume auto (finished runs are kept, the others continue), or resume OUT/seed-N alone");
        if (seeds is not null && ensemble is not null) throw new ArgumentException("--seeds and --ensemble cannot be combined: an ensemble's members take the seeds --seed, --seed+1, …");
        if (seeds is not null)
        {
            if (p.GetResult(Seed) is { Implicit: false }) throw new ArgumentException("--seeds and --seed cannot be combined: --seeds gives every run's seed");
            return RunGroup.Seeds(RunGroup.ParseSeeds(seeds), splitSeed: p.GetValue(SplitSeed));
        }
        return RunGroup.Ensemble(p.GetValue(Seed), ensemble!.Value);
    }

    /// <summary>The full paths of the data files, or a synthetic dataset's descriptor as given (checked here); null when no --data is given.</summary>
    private string[]? DataPaths(ParseResult p) => p.GetValue(Data) is { Length: > 0 } given
        ? given.Select(d => SyntheticDataset.IsDescriptor(d) ? SyntheticDataset.Parse(d, p.GetValue(Bits), "--data").Descriptor : Path.GetFullPath(d)).ToArray()
        : null;

    private static bool Exists(string dataPath) => SyntheticDataset.IsDescriptor(dataPath) || File.Exists(dataPath) || Directory.Exists(dataPath);

    private static void RequireReadable(string dataPath)
    {
        if (!SyntheticDataset.IsDescriptor(dataPath)) InputFile.RequireRegularFile(dataPath, "--data");
    }

    /// <summary>The output directory the options name (--out, else the run directory of --resume DIR); null when neither is given.</summary>
    public string? OutPath(ParseResult p) =>
        p.GetValue(Out)?.FullName ?? (p.GetValue(Resume) is { } resume and not "auto" ? Path.GetFullPath(resume) : null);

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

/// <summary>A run as the command line resolved it. <see cref="AlreadyFinished"/>: <c>--resume auto</c> found the run in --out complete (nothing to do).</summary>
public sealed record ResolvedRun(string RunId, RunSpec Spec, string OutDirectory, CheckpointPolicy Checkpoints, ResumeFrom? Resume, bool AlreadyFinished = false)
{
    public TrainJob ToJob(int minWorkers) => new(RunId, Spec, OutDirectory, minWorkers, Checkpoints, Resume);
}
