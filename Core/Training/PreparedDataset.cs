using System.Collections.Concurrent;
using System.Security.Cryptography;
using MtnnCluster.Chem;
using MtnnCluster.Data;
using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>One row's features: indices of set bits (or counted environments) and their values.</summary>
public sealed record SparseFeatures(int[] Indices, float[] Values);

/// <summary>Mean and standard deviation of a regression task's training labels; targets are standardised by them.</summary>
public sealed record TargetScale(double Mean, double Std)
{
    public static readonly TargetScale Identity = new(0, 1);
}

/// <summary>
/// A dataset ready to train on: labels read, SMILES parsed and featurised (invalid ones skipped and counted),
/// split. Rows here are the valid rows only, in file order (several files: <see cref="DatasetMerge"/>). Identical on
/// every node for the same spec, which is what lets workers load their own rows from shared storage.
/// </summary>
public sealed class PreparedDataset
{
    private static readonly ConcurrentDictionary<string, Lazy<PreparedDataset>> Cache = new();
    private HashSet<string>? _evaluated;

    /// <summary>The data file, or the files separated by commas, as messages name them.</summary>
    public required string Path { get; init; }
    /// <summary>Each data file's dataset and its tasks.</summary>
    public required DatasetPart[] Datasets { get; init; }
    /// <summary>The datasets whose tasks make the validation score and the headline means (<see cref="DatasetSpec.EvalDatasets"/>).</summary>
    public required string[] EvalDatasets { get; init; }
    public required TaskInfo[] Tasks { get; init; }
    public required string[] Smiles { get; init; }
    public required int[] LineNumbers { get; init; }
    /// <summary>The labelled cells only, by row.</summary>
    public required SparseLabels Labels { get; init; }
    public required SparseFeatures[] Features { get; init; }
    /// <summary>Each row's molecular graph, when the spec asks for graphs (the graph trunk); else null.</summary>
    public MoleculeGraph[]? Graphs { get; init; }
    public required SplitAssignment Split { get; init; }
    public required TargetScale[] Scales { get; init; }
    public required int FeatureSize { get; init; }
    public required int InvalidSmiles { get; init; }
    public required IReadOnlyList<string> Warnings { get; init; }
    /// <summary>Each task's weight in the training loss (<see cref="OptimizerSpec.TaskWeights"/>; 1 when none is given).</summary>
    public required float[] TaskWeights { get; init; }
    /// <summary>
    /// SHA-256 of the file's bytes: a checkpoint names the data it was trained on. Several files: the SHA-256 of their
    /// SHA-256s (lower-case hex, one a line, in order), so that one file's fingerprint is what it always was.
    /// </summary>
    public required string Fingerprint { get; init; }

    public int RowCount => Smiles.Length;

    /// <summary>What a trunk reads of the rows (<see cref="ITrunk.Store"/>).</summary>
    public MoleculeInputs Inputs => new(Features, FeatureSize, Graphs);
    public int TaskCount => Tasks.Length;

    /// <summary>Whether a task's scores count for the validation score and the headline means.</summary>
    public bool IsEvaluated(string task) =>
        (_evaluated ??= Datasets.Where(d => EvalDatasets.Contains(d.Name)).SelectMany(d => d.Tasks).Select(t => Tasks[t].Name).ToHashSet(StringComparer.Ordinal))
        .Contains(task);

    /// <summary>
    /// Loads (or returns the process's cached copy of) the dataset a run spec names. The cache is keyed on the
    /// file's SHA-256, read anew each time: a file replaced under a running job (even with its modification time
    /// kept) is prepared again, never served from the copy of the old bytes.
    /// </summary>
    public static PreparedDataset Load(RunSpec spec, Action<string>? warn = null)
    {
        var dataset = spec.Dataset;
        var fingerprint = IsSynthetic(spec) ? "" : FingerprintOf(dataset.Paths);
        var key = string.Join('|', string.Join(',', dataset.Paths.Select(System.IO.Path.GetFullPath)), fingerprint, string.Join(',', dataset.EvalDatasets ?? []),
            dataset.SmilesColumn, dataset.TaskColumn, dataset.LabelColumn, dataset.LabelConflicts, string.Join(',', dataset.Tasks ?? []),
            string.Join(',', dataset.RegressionTasks ?? []), string.Join(',', dataset.ClassificationTasks ?? []), spec.Featurizer, spec.Split,
            spec.Optimizer.TaskWeights, spec.Optimizer.TaskWeights is { } weights ? FileFingerprint(weights) : "");
        var lazy = Cache.GetOrAdd(key, _ => new Lazy<PreparedDataset>(() =>
        {
            var prepared = Prepare(spec, warn);
            // hashed before and after parsing: bytes that changed in between would be rows of neither version
            if (fingerprint.Length > 0 && prepared.Fingerprint != fingerprint)
                throw new InvalidDataException($"{prepared.Path}: the file changed while it was being read (SHA-256 {fingerprint} before, {prepared.Fingerprint} after)");
            return prepared;
        }));
        try { return lazy.Value; }
        catch { Cache.TryRemove(key, out _); throw; }
    }

    /// <summary>
    /// Refuses to train on other bytes than <paramref name="whose"/> side read (<paramref name="expected"/>: its
    /// SHA-256; null: nothing to compare with), naming the file and both fingerprints.
    /// </summary>
    public void RequireFingerprint(string? expected, string whose)
    {
        if (expected is null || string.Equals(expected, Fingerprint, StringComparison.OrdinalIgnoreCase)) return;
        throw new InvalidDataException($"{Path}: this node read SHA-256 {Fingerprint}, {whose} is {expected}: the data file differs between nodes " +
                                       "or was changed during the run; refusing to train on it");
    }

    public static PreparedDataset Prepare(RunSpec spec, Action<string>? warn = null)
    {
        if (IsSynthetic(spec)) return PrepareSynthetic(spec);
        warn ??= _ => { };
        var kinds = new Dictionary<string, TaskKind>();
        foreach (var t in spec.Dataset.RegressionTasks ?? []) kinds[t] = TaskKind.Regression;
        foreach (var t in spec.Dataset.ClassificationTasks ?? []) kinds[t] = TaskKind.Classification;
        var scaffoldSplit = spec.Split.Kind == SplitKind.Scaffold;
        var paths = spec.Dataset.Paths;
        var names = spec.Dataset.Names();
        var warnings = new List<string>();
        var files = new DatasetRows[paths.Length];
        var features = new List<SparseFeatures[]>();
        var graphs = new List<MoleculeGraph[]?>();
        var scaffolds = new List<string[]?>();
        var smiles = new List<string[]>();
        var invalid = 0;
        for (var f = 0; f < paths.Length; f++)
        {
            var table = LabelFile.Read(paths[f], spec.Dataset.ReadOptions(kinds));
            warnings.AddRange(table.Warnings);
            // molecule keys only where there is another file to match against
            var molecules = FeatureEncoding.Featurize(table.Smiles, spec.Featurizer, scaffoldSplit, moleculeKeys: paths.Length > 1);
            var valid = molecules.Valid();
            foreach (var row in Enumerable.Range(0, table.RowCount).Except(valid))
            {
                var message = $"{table.Path}:{table.LineNumbers[row]}: invalid SMILES '{table.Smiles[row]}' skipped ({molecules.Errors[row]})";
                warnings.Add(message);
                warn(message);
            }
            if (valid.Length == 0) throw new InvalidDataException($"{table.Path}: no row has a valid SMILES in column '{spec.Dataset.SmilesColumn}'");
            invalid += table.RowCount - valid.Length;
            files[f] = new DatasetRows(names[f], table.Path, table.Tasks, table.Labels.SelectRows(valid), valid.Select(r => table.LineNumbers[r]).ToArray(),
                molecules.Keys is { } keys ? valid.Select(r => keys[r]!).ToArray() : null);
            features.Add(valid.Select(r => molecules.Features[r]!).ToArray());
            graphs.Add(molecules.Graphs is { } moleculeGraphs ? valid.Select(r => moleculeGraphs[r]!).ToArray() : null);
            scaffolds.Add(molecules.Scaffolds is { } keysOfScaffolds ? valid.Select(r => keysOfScaffolds[r]!).ToArray() : null);
            smiles.Add(valid.Select(r => table.Smiles[r]).ToArray());
        }
        var merged = DatasetMerge.Merge(files, spec.Dataset.LabelConflicts);
        warnings.AddRange(merged.Warnings);
        foreach (var message in merged.Warnings) warn(message);

        var fractions = new SplitFractions(spec.Split.Train, spec.Split.Valid, spec.Split.Test);
        // random: each file's new molecules split as that file alone would be, so the first file's split is its own
        // whatever is trained beside it; scaffold: all at once, so that no scaffold straddles splits
        var split = scaffoldSplit
            ? DatasetSplitter.Scaffold(merged.Origins.Select(o => scaffolds[o.File]![o.Row]).ToArray(), fractions, spec.Split.Seed)
            : DatasetSplitter.Random(merged.NewRows, fractions, spec.Split.Seed);

        return new PreparedDataset
        {
            Path = string.Join(", ", files.Select(f => f.Path)),
            Datasets = merged.Parts,
            EvalDatasets = spec.Dataset.EvalDatasets ?? names,
            Tasks = merged.Tasks,
            Smiles = merged.Origins.Select(o => smiles[o.File][o.Row]).ToArray(),
            LineNumbers = merged.Origins.Select(o => files[o.File].LineNumbers[o.Row]).ToArray(),
            Labels = merged.Labels,
            Features = merged.Origins.Select(o => features[o.File][o.Row]).ToArray(),
            Graphs = spec.Featurizer.GraphFeatures > 0 ? merged.Origins.Select(o => graphs[o.File]![o.Row]).ToArray() : null,
            Split = split,
            Scales = ComputeScales(merged.Tasks, merged.Labels, split.Train),
            TaskWeights = ReadTaskWeights(spec, merged.Tasks),
            FeatureSize = spec.Featurizer.FeatureSize,
            InvalidSmiles = invalid,
            Warnings = warnings,
            Fingerprint = FingerprintOf(paths),
        };
    }

    private static bool IsSynthetic(RunSpec spec) => spec.Dataset.Paths is [var only] && SyntheticDataset.IsDescriptor(only);

    /// <summary>Why --descriptors is refused on synthetic data (its rows are feature bits, not molecules).</summary>
    public const string NoMoleculesToDescribe = "--descriptors: a synthetic dataset has no molecules to count atoms of; remove --descriptors";

    /// <summary>
    /// A <see cref="SyntheticDataset"/> named by its descriptor as the data path: rows generated in parallel, all
    /// tasks classification, random split. Labels are kept sparse, so the size is bounded by labelled cells
    /// (2^31 at most), not rows × tasks.
    /// </summary>
    private static PreparedDataset PrepareSynthetic(RunSpec spec)
    {
        var synthetic = SyntheticDataset.Parse(spec.Dataset.Paths[0], spec.Featurizer.Bits, "--data");
        if (spec.Split.Kind != SplitKind.Random) throw new ArgumentException($"--split {spec.Split.Kind.ToString().ToLowerInvariant()}: a synthetic dataset has no scaffolds; use --split random");
        if (spec.Featurizer.Descriptors) throw new ArgumentException(NoMoleculesToDescribe);
        if (spec.Featurizer.GraphFeatures > 0) throw new ArgumentException("--trunk graph: a synthetic dataset has no molecular graphs; use --trunk fingerprint");
        var (rows, taskCount) = (synthetic.Rows, synthetic.Tasks);
        if (rows * (double)taskCount * synthetic.Density > Array.MaxLength * 0.95)
            throw new ArgumentException($"--data {synthetic.Descriptor}: about {rows * (double)taskCount * synthetic.Density:0} labelled cells expected, more than one label store holds ({Array.MaxLength})");
        var cells = new (int[] Tasks, float[] Values)[rows];
        var features = new SparseFeatures[rows];
        var ones = Enumerable.Repeat(1f, SyntheticDataset.BitsPerRow).ToArray();
        Parallel.For(0, rows, r =>
        {
            var row = synthetic.Row(r);
            features[r] = new SparseFeatures(row.Bits, ones);
            cells[r] = (row.Tasks, row.Labels);
        });
        var labels = SparseLabels.FromRows(taskCount, cells);
        var tasks = Enumerable.Range(0, taskCount).Select(t => new TaskInfo($"task{t}", TaskKind.Classification)).ToArray();
        var split = DatasetSplitter.Random(rows, new SplitFractions(spec.Split.Train, spec.Split.Valid, spec.Split.Test), spec.Split.Seed);
        return new PreparedDataset
        {
            Path = synthetic.Descriptor,
            Datasets = [new DatasetPart("synthetic", synthetic.Descriptor, Enumerable.Range(0, taskCount).ToArray())],
            EvalDatasets = ["synthetic"],
            Tasks = tasks,
            Smiles = Enumerable.Range(0, rows).Select(r => $"synthetic-{r}").ToArray(),
            LineNumbers = Enumerable.Range(1, rows).ToArray(),
            Labels = labels,
            Features = features,
            Split = split,
            Scales = Enumerable.Repeat(TargetScale.Identity, taskCount).ToArray(),
            TaskWeights = ReadTaskWeights(spec, tasks),
            FeatureSize = spec.Featurizer.Bits,
            InvalidSmiles = 0,
            Warnings = [],
            Fingerprint = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(synthetic.Descriptor))),
        };
    }

    /// <summary>Row indices (into this dataset) of a split that carry at least one label among <paramref name="tasks"/>.</summary>
    public int[] LabelledRows(IReadOnlyList<int> splitRows, IReadOnlyList<int> tasks)
    {
        var wanted = new bool[TaskCount];
        foreach (var t in tasks) wanted[t] = true;
        var labelled = new List<int>();
        foreach (var row in splitRows)
            foreach (var t in Labels.TasksOf(row))
                if (wanted[t]) { labelled.Add(row); break; }
        return labelled.ToArray();
    }

    private static float[] ReadTaskWeights(RunSpec spec, TaskInfo[] tasks) =>
        spec.Optimizer.TaskWeights is { } path ? TaskWeightsFile.Read(path, tasks) : Enumerable.Repeat(1f, tasks.Length).ToArray();

    /// <summary>The fingerprint of the data files (<see cref="Fingerprint"/>).</summary>
    public static string FingerprintOf(IReadOnlyList<string> paths) => paths.Count == 1
        ? FileFingerprint(paths[0])
        : Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Concat(paths.Select(p => FileFingerprint(p) + "\n")))));

    public static string FileFingerprint(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static TargetScale[] ComputeScales(TaskInfo[] tasks, SparseLabels labels, int[] trainRows)
    {
        var values = tasks.Select(t => t.Kind == TaskKind.Regression ? new List<double>() : null).ToArray();
        foreach (var row in trainRows)
        {
            var rowTasks = labels.TasksOf(row);
            var rowValues = labels.ValuesOf(row);
            for (var k = 0; k < rowTasks.Length; k++) values[rowTasks[k]]?.Add(rowValues[k]);
        }
        return values.Select(v =>
        {
            if (v is null || v.Count == 0) return TargetScale.Identity;
            var mean = v.Average();
            var std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Count);
            return new TargetScale(mean, std > 1e-12 ? std : 1);
        }).ToArray();
    }
}
