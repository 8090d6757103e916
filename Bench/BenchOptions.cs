using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MtnnCluster.Data;
using MtnnCluster.Training;

namespace MtnnCluster.Bench;

/// <summary>Options every benchmark shares: the data, the model, and how results are printed.</summary>
public sealed class BenchOptions
{
    public Option<string?> Data { get; } = new("--data") { Description = "CSV or .csv.gz dataset (default: examples/toxcast.csv.gz)" };
    public Option<string?> Synthetic { get; } = new("--synthetic") { Description = "ROWS,TASKS,DENSITY[,SEED]: a generated dataset instead of --data" };
    public Option<string> Layers { get; } = new("--layers") { Description = "trunk hidden layers", DefaultValueFactory = _ => "2000,100" };
    public Option<int> Bits { get; } = new("--bits") { Description = "feature width (ECFP bits)", DefaultValueFactory = _ => 2048 };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "rows per step", DefaultValueFactory = _ => 128 };
    public Option<int> Seed { get; } = new("--seed") { Description = "seed", DefaultValueFactory = _ => 0 };
    public Option<bool> Json { get; } = new("--json") { Description = "end with one line holding a JSON object of the results" };
    public Option<string> Trunk { get; } = new("--trunk") { Description = "fingerprint, or graph (D-MPNN; --layers then defaults to 300, the layers after the readout)", DefaultValueFactory = _ => "fingerprint" };
    public Option<int> Depth { get; } = new("--depth") { Description = "--trunk graph: message-passing steps", DefaultValueFactory = _ => new GraphSpec().Depth };
    public Option<int> HiddenSize { get; } = new("--hidden-size") { Description = "--trunk graph: width of the bond and atom states", DefaultValueFactory = _ => new GraphSpec().Hidden };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, Synthetic, Layers, Bits, BatchSize, Seed, Json, Trunk, Depth, HiddenSize }) command.Options.Add(option);
    }

    /// <summary>The data path a run spec names: a file, or a synthetic descriptor.</summary>
    public string DataPath(ParseResult p)
    {
        if (p.GetValue(Synthetic) is { } synthetic)
        {
            if (p.GetValue(Data) is not null) throw new ArgumentException("--data and --synthetic exclude each other");
            return SyntheticDataset.Parse(synthetic, p.GetValue(Bits)).Descriptor;
        }
        var path = Path.GetFullPath(p.GetValue(Data) ?? Path.Combine(RepoRoot, "examples", "toxcast.csv.gz"));
        return File.Exists(path) ? path : throw new ArgumentException($"--data: {path} does not exist");
    }

    public int[] LayerSizes(ParseResult p) =>
        p.GetValue(Layers)!.Split(',', StringSplitOptions.TrimEntries).Select(s => int.TryParse(s, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n : throw new ArgumentException($"--layers: '{p.GetValue(Layers)}' is not a list of positive sizes")).ToArray();

    /// <summary>Whether --trunk names the graph trunk (anything else than fingerprint or graph is refused).</summary>
    public bool IsGraph(ParseResult p) => p.GetValue(Trunk)!.Trim().ToLowerInvariant() switch
    {
        "fingerprint" => false,
        "graph" => true,
        var other => throw new ArgumentException($"--trunk must be fingerprint or graph (got '{other}')"),
    };

    /// <summary>
    /// The benchmarks' model: the fingerprint trunk on ECFP bits, or the graph trunk on the graph alone (no molecule
    /// features, chemprop's defaults: one 300-wide layer after a mean readout, no dropout).
    /// </summary>
    public RunSpec Spec(ParseResult p, ScheduleSpec schedule, Precision precision = Precision.Fp32)
    {
        var graph = IsGraph(p);
        var model = graph
            ? new ModelSpec(p.GetResult(Layers) is { Implicit: false } ? LayerSizes(p) : [300], 0, 0, MtnnCluster.Model.TrunkKind.Graph,
                new GraphSpec(p.GetValue(Depth), p.GetValue(HiddenSize)))
            : new ModelSpec(LayerSizes(p), 0.25);
        var spec = new RunSpec(
            new DatasetSpec([DataPath(p)], "smiles", null, null, null),
            graph ? new FeaturizerSpec(2, p.GetValue(Bits), false, Fingerprint: false, GraphFeatures: MtnnCluster.Chem.GraphFeatures.Version)
                : new FeaturizerSpec(2, p.GetValue(Bits), false),
            new SplitSpec(SplitKind.Random, p.GetValue(Seed), 0.8, 0.1, 0.1),
            model,
            new OptimizerSpec(1e-3, 1e-4, p.GetValue(BatchSize), false),
            schedule,
            p.GetValue(Seed),
            precision);
        spec.Validate();
        return spec;
    }

    /// <summary>The repository root: the directory above the bench binary that holds MtnnCluster.sln.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "MtnnCluster.sln"))) return dir.FullName;
            return Directory.GetCurrentDirectory();
        }
    }
}

/// <summary>Named results, printed one per line as they come; with --json, one JSON object as the last line.</summary>
public sealed class BenchReport(string name)
{
    private readonly Dictionary<string, object> _values = new() { ["benchmark"] = name };

    public void Add(string key, object value)
    {
        _values[key] = value is double d ? Math.Round(d, 4) : value;
        Console.WriteLine($"{key}: {(value is double v ? v.ToString("G6", CultureInfo.InvariantCulture) : value)}");
    }

    /// <summary>A result for the JSON object only (tables print their own lines).</summary>
    public void Record(string key, object value) => _values[key] = value is double d ? Math.Round(d, 6) : value;

    public void Note(string line) => Console.WriteLine($"# {line}");

    public void Finish(bool json)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(_values));
    }

    public static string Machine =>
        $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd}";
}
