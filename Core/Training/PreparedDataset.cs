using System.Collections.Concurrent;
using System.Security.Cryptography;
using MtnnCluster.Chem;
using MtnnCluster.Data;

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
/// split. Rows here are the valid rows only, in file order. Identical on every node for the same spec, which is
/// what lets workers load their own rows from shared storage.
/// </summary>
public sealed class PreparedDataset
{
    private static readonly ConcurrentDictionary<string, Lazy<PreparedDataset>> Cache = new();

    public required string Path { get; init; }
    public required TaskInfo[] Tasks { get; init; }
    public required string[] Smiles { get; init; }
    public required int[] LineNumbers { get; init; }
    /// <summary>The labelled cells only, by row.</summary>
    public required SparseLabels Labels { get; init; }
    public required SparseFeatures[] Features { get; init; }
    public required SplitAssignment Split { get; init; }
    public required TargetScale[] Scales { get; init; }
    public required int FeatureSize { get; init; }
    public required int InvalidSmiles { get; init; }
    public required IReadOnlyList<string> Warnings { get; init; }
    /// <summary>SHA-256 of the file's bytes: a checkpoint names the data it was trained on.</summary>
    public required string Fingerprint { get; init; }

    public int RowCount => Smiles.Length;
    public int TaskCount => Tasks.Length;

    /// <summary>Loads (or returns the process's cached copy of) the dataset a run spec names.</summary>
    public static PreparedDataset Load(RunSpec spec, Action<string>? warn = null)
    {
        var dataset = spec.Dataset;
        var key = string.Join('|', System.IO.Path.GetFullPath(dataset.Path), File.GetLastWriteTimeUtc(dataset.Path).Ticks,
            dataset.SmilesColumn, dataset.TaskColumn, dataset.LabelColumn, string.Join(',', dataset.Tasks ?? []), string.Join(',', dataset.RegressionTasks ?? []),
            string.Join(',', dataset.ClassificationTasks ?? []), spec.Featurizer, spec.Split);
        var lazy = Cache.GetOrAdd(key, _ => new Lazy<PreparedDataset>(() => Prepare(spec, warn)));
        try { return lazy.Value; }
        catch { Cache.TryRemove(key, out _); throw; }
    }

    public static PreparedDataset Prepare(RunSpec spec, Action<string>? warn = null)
    {
        if (SyntheticDataset.IsDescriptor(spec.Dataset.Path)) return PrepareSynthetic(spec);
        warn ??= _ => { };
        var kinds = new Dictionary<string, TaskKind>();
        foreach (var t in spec.Dataset.RegressionTasks ?? []) kinds[t] = TaskKind.Regression;
        foreach (var t in spec.Dataset.ClassificationTasks ?? []) kinds[t] = TaskKind.Classification;
        var table = LabelFile.Read(spec.Dataset.Path, spec.Dataset.ReadOptions(kinds));
        var warnings = new List<string>(table.Warnings);

        var featurizer = new EcfpFeaturizer(spec.Featurizer.Radius, spec.Featurizer.Bits);
        var features = new SparseFeatures?[table.RowCount];
        var scaffolds = new string?[table.RowCount];
        var errors = new string?[table.RowCount];
        var scaffoldSplit = spec.Split.Kind == "scaffold";
        Parallel.For(0, table.RowCount, row =>
        {
            if (!SmilesParser.TryParse(table.Smiles[row], out var molecule, out var error) || molecule is null)
            {
                errors[row] = error ?? "invalid SMILES";
                return;
            }
            features[row] = FeatureEncoding.Encode(featurizer, molecule, spec.Featurizer.Counts);
            if (scaffoldSplit) scaffolds[row] = MurckoScaffold.Key(molecule);
        });

        var valid = new List<int>();
        for (var row = 0; row < table.RowCount; row++)
        {
            if (features[row] is null)
            {
                var message = $"{table.Path}:{table.LineNumbers[row]}: invalid SMILES '{table.Smiles[row]}' skipped ({errors[row]})";
                warnings.Add(message);
                warn(message);
            }
            else valid.Add(row);
        }
        if (valid.Count == 0) throw new InvalidDataException($"{table.Path}: no row has a valid SMILES in column '{spec.Dataset.SmilesColumn}'");

        var labels = table.Labels.SelectRows(valid);

        var fractions = new SplitFractions(spec.Split.Train, spec.Split.Valid, spec.Split.Test);
        var split = scaffoldSplit
            ? DatasetSplitter.Scaffold(valid.Select(r => scaffolds[r]!).ToArray(), fractions, spec.Split.Seed)
            : DatasetSplitter.Random(valid.Count, fractions, spec.Split.Seed);

        return new PreparedDataset
        {
            Path = table.Path,
            Tasks = table.Tasks,
            Smiles = valid.Select(r => table.Smiles[r]).ToArray(),
            LineNumbers = valid.Select(r => table.LineNumbers[r]).ToArray(),
            Labels = labels,
            Features = valid.Select(r => features[r]!).ToArray(),
            Split = split,
            Scales = ComputeScales(table.Tasks, labels, split.Train),
            FeatureSize = spec.Featurizer.Bits,
            InvalidSmiles = table.RowCount - valid.Count,
            Warnings = warnings,
            Fingerprint = FileFingerprint(spec.Dataset.Path),
        };
    }

    /// <summary>
    /// A <see cref="SyntheticDataset"/> named by its descriptor as the data path: rows generated in parallel, all
    /// tasks classification, random split. Labels are kept sparse, so the size is bounded by labelled cells
    /// (2^31 at most), not rows × tasks.
    /// </summary>
    private static PreparedDataset PrepareSynthetic(RunSpec spec)
    {
        var synthetic = SyntheticDataset.Parse(spec.Dataset.Path, spec.Featurizer.Bits, "--data");
        if (spec.Split.Kind != "random") throw new ArgumentException($"--split {spec.Split.Kind}: a synthetic dataset has no scaffolds; use --split random");
        var (rows, taskCount) = (synthetic.Rows, synthetic.Tasks);
        if (rows * (double)taskCount * synthetic.Density > Array.MaxLength * 0.95)
            throw new ArgumentException($"--data {spec.Dataset.Path}: about {rows * (double)taskCount * synthetic.Density:0} labelled cells expected, more than one label store holds ({Array.MaxLength})");
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
            Tasks = tasks,
            Smiles = Enumerable.Range(0, rows).Select(r => $"synthetic-{r}").ToArray(),
            LineNumbers = Enumerable.Range(1, rows).ToArray(),
            Labels = labels,
            Features = features,
            Split = split,
            Scales = Enumerable.Repeat(TargetScale.Identity, taskCount).ToArray(),
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
