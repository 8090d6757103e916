namespace MtnnCluster.Training;

public enum ScheduleKind { Joint, Alternate }

/// <summary>What one epoch updates: trunk and heads together, the trunk alone (heads frozen), or the heads alone.</summary>
public enum EpochPhase { Joint, Trunk, Heads }

/// <summary>Where the rows come from and which columns are tasks.</summary>
/// <param name="Paths">The data files, one or more (<see cref="Data.DatasetMerge"/>: their molecules matched, their
/// tasks side by side), or one synthetic descriptor.</param>
/// <param name="TaskColumn">Long format: the column naming each line's task (null: <c>task</c>, and a wide file is read as wide).</param>
/// <param name="LabelColumn">Long format: the column holding each line's label (null: <c>label</c>).</param>
/// <param name="LabelConflicts">Long format, and a molecule labelled twice for a task across files: an error, or left out.</param>
/// <param name="EvalDatasets">The datasets (<see cref="Names"/>) whose tasks make the validation score and the headline
/// means; null: all.</param>
public sealed record DatasetSpec(
    string[] Paths,
    string SmilesColumn,
    string[]? Tasks,
    string[]? RegressionTasks,
    string[]? ClassificationTasks,
    string? TaskColumn = null,
    string? LabelColumn = null,
    Data.LabelConflicts LabelConflicts = Data.LabelConflicts.Error,
    string[]? EvalDatasets = null)
{
    public Data.CsvReadOptions ReadOptions(IReadOnlyDictionary<string, Data.TaskKind>? kinds = null) =>
        new(SmilesColumn, Tasks, kinds, TaskColumn, LabelColumn, LabelConflicts);

    /// <summary>Each file's dataset name (<see cref="Data.DatasetMerge.NameOf"/>), in order.</summary>
    public string[] Names() => Paths.Select(Data.DatasetMerge.NameOf).ToArray();

    /// <summary>
    /// Run specs written before <c>--data</c> could be repeated (model.json, state.json) name their one file as
    /// <c>path</c>: read as a list of one, so those checkpoints still load. Never written.
    /// </summary>
    [System.Text.Json.Serialization.JsonInclude, System.Text.Json.Serialization.JsonPropertyName("path"),
     System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    private string? SingleFile
    {
        get => null;
        init { if (value is not null) Paths = [value]; }
    }
}

/// <param name="CountScale">With <paramref name="Counts"/>: each count as it is, or as log(1 + count). Specs written
/// before it existed read as <see cref="CountScale.Raw"/>, which is what they trained on.</param>
/// <param name="Descriptors">Whole-molecule counts (<see cref="Chem.MoleculeDescriptors"/>) as log(1 + count),
/// after the fingerprint's bits; false in specs written before they existed.</param>
/// <param name="DescriptorSet">Which counts (<see cref="Chem.MoleculeDescriptors.Names"/>): 1 in specs written before
/// sets were named, which is what those runs trained on; new runs take <see cref="Chem.MoleculeDescriptors.LatestSet"/>.</param>
/// <param name="Fingerprint">Whether the ECFP is among the features: always for the fingerprint trunk; for the graph
/// trunk, whether it is a molecule-level feature beside the graph (<c>--molecule-features</c>).</param>
/// <param name="GraphFeatures">The version of the graph's atom and bond features (<see cref="Chem.GraphFeatures.Version"/>);
/// 0: no graphs are prepared (the fingerprint trunk).</param>
public sealed record FeaturizerSpec(
    int Radius,
    int Bits,
    bool Counts,
    CountScale CountScale = CountScale.Raw,
    bool Descriptors = false,
    int DescriptorSet = 1,
    bool Fingerprint = true,
    int GraphFeatures = 0)
{
    /// <summary>The width of the sparse features: the fingerprint's bits (if any), then the descriptors (if any).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int FeatureSize => FingerprintSize + (Descriptors ? Chem.MoleculeDescriptors.Count(DescriptorSet) : 0);

    /// <summary>Where the descriptors start: after the fingerprint's bits, if it is there.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int FingerprintSize => Fingerprint ? Bits : 0;
}

/// <summary>
/// How a count fingerprint's counts become feature values. Raw counts of tens (large molecules folded into few
/// bits) drove a first layer's units dead on FS-Mol; log(1 + count) keeps one environment at 0.69 and fifty at 3.9.
/// </summary>
public enum CountScale { Raw, Log }

/// <summary>How rows are split: at random, or by Bemis-Murcko scaffold (no scaffold in two splits).</summary>
public enum SplitKind { Random, Scaffold }

public sealed record SplitSpec(
    SplitKind Kind,
    int Seed,
    double Train,
    double Valid,
    double Test);

/// <param name="InputDropout">The fraction of each row's input features dropped in training (inverted dropout, as on
/// the hidden layers); 0 in specs written before it existed.</param>
/// <param name="Layers">The fingerprint trunk's hidden layers; the graph trunk's layers after the readout. The last is the embedding the heads read.</param>
/// <param name="Trunk">Which trunk (<see cref="Model.TrunkKind"/>); specs written before the graph trunk read as the fingerprint's.</param>
/// <param name="Graph">The graph trunk's message passing (null for the fingerprint trunk).</param>
public sealed record ModelSpec(
    int[] Layers,
    double Dropout,
    double InputDropout = 0,
    Model.TrunkKind Trunk = Model.TrunkKind.Fingerprint,
    GraphSpec? Graph = null);

/// <summary>The graph trunk's message passing: <paramref name="Depth"/> steps (chemprop's depth: the first bond
/// states and depth − 1 updates), bond states of <paramref name="Hidden"/> values, the molecule's <paramref name="Readout"/>.</summary>
public sealed record GraphSpec(int Depth = 3, int Hidden = 300, Model.GraphReadout Readout = Model.GraphReadout.Mean)
{
    public const int MaxDepth = 20;
}

/// <param name="TaskWeights">A CSV of <c>task,weight</c>: each task's loss is multiplied by its weight (unlisted tasks: 1); null: all 1.</param>
public sealed record OptimizerSpec(
    double LearningRate,
    double WeightDecay,
    int BatchSize,
    bool BalancePositives,
    string? TaskWeights = null);

/// <summary>
/// The schedule: <c>joint</c> updates everything every epoch; <c>alternate</c> (ATE-SG) repeats
/// <see cref="HeadEpochs"/> head-only epochs then <see cref="TrunkEpochs"/> trunk-only epochs. Heads come first:
/// trunk steps against untrained heads learn little (measured on Tox21: 0.72 vs 0.75 valid ROC-AUC after 8 epochs).
/// <see cref="SyncEvery"/> = 1: one reduced trunk step per batch; K &gt; 1: each worker takes K local trunk steps,
/// then the coordinator averages the workers' trunks (weighted by labels).
/// </summary>
public sealed record ScheduleSpec(
    ScheduleKind Kind,
    int Epochs,
    int TrunkEpochs,
    int HeadEpochs,
    int Patience,
    int SyncEvery = 1);

/// <summary>
/// Everything a worker needs to take part in a run; identical on every node, so that every worker computes the
/// same way (<see cref="Precision"/> included).
/// </summary>
/// <param name="MinClassCount">A classification task enters a split's mean ROC-AUC and PRC-AUC (and the validation
/// score) only with at least this many positives and as many negatives there (<see cref="Evaluation.MetricSummary.IsScored"/>).</param>
public sealed record RunSpec(
    DatasetSpec Dataset,
    FeaturizerSpec Featurizer,
    SplitSpec Split,
    ModelSpec Model,
    OptimizerSpec Optimizer,
    ScheduleSpec Schedule,
    int Seed,
    Precision Precision = Precision.Fp32,
    int MinClassCount = Evaluation.MetricSummary.DefaultMinClassCount,
    WirePrecision Wire = WirePrecision.Fp32)
{
    /// <summary>Fails fast, naming the field, on a configuration that cannot train.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Require(Model.Layers.Length > 0, "--layers: at least one hidden layer is needed");
        Require(Model.Layers.All(n => n is > 0 and <= MaxLayerWidth), $"--layers: every size must be 1..{MaxLayerWidth} (got {string.Join(',', Model.Layers)})");
        Require(Featurizer.Bits is >= 8 and <= 1 << 20, $"--bits must be 8..1048576 (got {Featurizer.Bits})");
        ValidateTrunk();
        var trunkBytes = Model.Trunk == MtnnCluster.Model.TrunkKind.Graph
            ? MtnnCluster.Model.GraphTrunk.ParameterCount(Model.Graph!.Hidden, Featurizer.FeatureSize, Model.Layers) * sizeof(float)
            : TrunkParameterCount(Featurizer.FeatureSize, Model.Layers) * sizeof(float);
        Require(trunkBytes <= MaxTrunkBytes,
            $"--layers {string.Join(',', Model.Layers)} with --bits {Featurizer.Bits}{(Featurizer.Descriptors ? $" and {Chem.MoleculeDescriptors.Count(Featurizer.DescriptorSet)} descriptors" : "")}: the trunk would take {trunkBytes / (1 << 20)} MiB, "
            + $"more than the {MaxTrunkBytes >> 20} MiB one message can carry");
        Require(Model.Dropout is >= 0 and < 1, $"--dropout must be in [0, 1) (got {Model.Dropout})");
        Require(Model.InputDropout is >= 0 and < 1, $"--input-dropout must be in [0, 1) (got {Model.InputDropout})");
        Require(Featurizer.Radius is >= 0 and <= 6, $"--radius must be 0..6 (got {Featurizer.Radius})");
        Require(Optimizer.LearningRate > 0 && double.IsFinite(Optimizer.LearningRate), $"--lr must be a positive number (got {Optimizer.LearningRate})");
        Require(Optimizer.WeightDecay >= 0 && double.IsFinite(Optimizer.WeightDecay), $"--weight-decay must be a number ≥ 0 (got {Optimizer.WeightDecay})");
        Require(Optimizer.BatchSize > 0, $"--batch-size must be positive (got {Optimizer.BatchSize})");
        Require(Schedule.Epochs >= 1, $"--epochs must be ≥ 1 (got {Schedule.Epochs})");
        Require(Schedule.TrunkEpochs >= 1 && Schedule.HeadEpochs >= 1,
            $"--trunk-epochs and --head-epochs must be ≥ 1 (got {Schedule.TrunkEpochs}, {Schedule.HeadEpochs})");
        Require(Schedule.SyncEvery >= 1, $"--sync-every must be ≥ 1 (got {Schedule.SyncEvery})");
        Require(Schedule.Patience >= 0, $"--patience must be ≥ 0 (got {Schedule.Patience})");
        Require(Enum.IsDefined(Split.Kind), $"--split must be random or scaffold (got value {(int)Split.Kind})");
        Require(Split.Train > 0 && Split.Valid >= 0 && Split.Test >= 0 && Math.Abs(Split.Train + Split.Valid + Split.Test - 1) <= 1e-6,
            $"--split-fractions: train > 0, valid and test ≥ 0, summing to 1 (got {Split.Train},{Split.Valid},{Split.Test})");
        Require(Enum.IsDefined(Precision), $"--precision must be fp32, tf32 or bf16 (got value {(int)Precision})");
        Require(MinClassCount >= 1, $"--min-class-count must be ≥ 1 (got {MinClassCount})");
        Require(Enum.IsDefined(Dataset.LabelConflicts), $"--label-conflicts must be error or drop (got value {(int)Dataset.LabelConflicts})");
        Require(Optimizer.TaskWeights is null || !string.IsNullOrWhiteSpace(Optimizer.TaskWeights), "--task-weights must name a file");
        Require(Seed >= 0 && Split.Seed >= 0, $"--seed must be ≥ 0 (got {Seed})");
        Require(!string.IsNullOrWhiteSpace(Dataset.SmilesColumn), "--smiles-column must name a column");
        ValidateDatasets();
        Require(Dataset.TaskColumn is null || !string.IsNullOrWhiteSpace(Dataset.TaskColumn), "--task-column must name a column");
        Require(Dataset.LabelColumn is null || !string.IsNullOrWhiteSpace(Dataset.LabelColumn), "--label-column must name a column");
        Require(Dataset.Tasks is null || Dataset.Tasks.Length > 0, "--tasks: the list names no task");
        var both = (Dataset.RegressionTasks ?? []).Intersect(Dataset.ClassificationTasks ?? []).ToArray();
        Require(both.Length == 0, $"--regression-tasks and --classification-tasks both name {string.Join(", ", both.Select(t => $"'{t}'"))}");
    }

    /// <summary>The trunk and the features it reads agree: graphs for the graph trunk only, the ECFP for the fingerprint trunk always.</summary>
    private void ValidateTrunk()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Require(Enum.IsDefined(Model.Trunk), $"--trunk must be fingerprint or graph (got value {(int)Model.Trunk})");
        if (Model.Trunk == MtnnCluster.Model.TrunkKind.Fingerprint)
        {
            Require(Model.Graph is null && Featurizer.GraphFeatures == 0, "--depth, --hidden-size, --readout and --molecule-features apply to --trunk graph");
            Require(Featurizer.Fingerprint, "the fingerprint trunk reads the fingerprint: --molecule-features applies to --trunk graph");
            return;
        }
        Require(Model.Graph is not null, "--trunk graph: the message passing is not described (depth, hidden size, readout)");
        Require(Featurizer.GraphFeatures == Chem.GraphFeatures.Version,
            $"--trunk graph: graph features version {Featurizer.GraphFeatures}, this build computes version {Chem.GraphFeatures.Version}");
        Require(Model.Graph!.Depth is >= 1 and <= GraphSpec.MaxDepth, $"--depth must be 1..{GraphSpec.MaxDepth} (got {Model.Graph.Depth})");
        Require(Model.Graph.Hidden is > 0 and <= MaxLayerWidth, $"--hidden-size must be 1..{MaxLayerWidth} (got {Model.Graph.Hidden})");
        Require(Enum.IsDefined(Model.Graph.Readout), $"--readout must be mean, sum or norm (got value {(int)Model.Graph.Readout})");
        Require(Model.InputDropout == 0, "--input-dropout applies to the fingerprint trunk (the graph trunk drops out after its feed-forward layers: --dropout)");
        Require(Precision != Precision.Bf16, "--precision bf16 applies to the fingerprint trunk; the graph trunk computes in fp32 (or tf32 on CUDA)");
    }

    private void ValidateDatasets()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Require(Dataset.Paths is { Length: > 0 } && Dataset.Paths.All(p => !string.IsNullOrWhiteSpace(p)), "--data is required (once per data file)");
        var names = Dataset.Names();
        if (Dataset.Paths.Length > 1)
        {
            Require(!Dataset.Paths.Any(Data.SyntheticDataset.IsDescriptor), "--data: a synthetic dataset cannot be combined with other --data");
            var twice = names.Select((n, i) => (n, i)).GroupBy(p => p.n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            Require(twice is null, $"--data: {string.Join(" and ", twice?.Select(p => Dataset.Paths[p.i]) ?? [])} are both dataset '{twice?.Key}' (a dataset is named by its file name up to the first dot); rename one");
            Require(Dataset.Tasks is null && Dataset.RegressionTasks is null && Dataset.ClassificationTasks is null,
                "--tasks, --regression-tasks and --classification-tasks take one --data file");
        }
        if (Dataset.EvalDatasets is { } evaluated)
        {
            Require(evaluated.Length > 0, "--eval-datasets: the list names no dataset");
            var unknown = evaluated.Where(n => !names.Contains(n, StringComparer.Ordinal)).ToArray();
            Require(unknown.Length == 0, $"--eval-datasets: no dataset {string.Join(", ", unknown.Select(n => $"'{n}'"))}; the datasets are {string.Join(", ", names.Select(n => $"'{n}'"))}");
        }
    }

    /// <summary>Widest hidden layer accepted: far beyond any useful trunk, well short of exhausting memory.</summary>
    public const int MaxLayerWidth = 1 << 16;

    /// <summary>
    /// Largest trunk: 500 MiB, so that it travels with its two optimizer moments and its best copy (4×) in one
    /// (chunked) message of the cluster's protocol, whose byte arrays stop at 2 GiB.
    /// </summary>
    public const long MaxTrunkBytes = 500L << 20;

    /// <summary>Weights and biases of a trunk on <paramref name="inputSize"/> features.</summary>
    public static long TrunkParameterCount(int inputSize, IEnumerable<int> layers)
    {
        long count = 0, fanIn = inputSize;
        foreach (var size in layers)
        {
            count += fanIn * size + size;
            fanIn = size;
        }
        return count;
    }

    /// <summary>The phase of a 1-based epoch under this schedule.</summary>
    public EpochPhase PhaseOf(int epoch)
    {
        if (Schedule.Kind == ScheduleKind.Joint) return EpochPhase.Joint;
        var cycle = Schedule.TrunkEpochs + Schedule.HeadEpochs;
        return (epoch - 1) % cycle < Schedule.HeadEpochs ? EpochPhase.Heads : EpochPhase.Trunk;
    }
}
