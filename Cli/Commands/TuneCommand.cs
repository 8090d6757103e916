using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using Akka.Actor;
using MtnnCluster.Cli.Output;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Coordinator;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>mtnn tune</c>: random search with successive halving (<see cref="HyperparameterSearch"/>), every trial a normal
/// run in OUT/trial-K/ trained in this process, one after another; judged on validation only.
/// </summary>
public static class TuneCommand
{
    public const string TableFile = "trials.tsv";
    public const string SummaryFile = "tune.json";
    public const string ReportFile = "report.html";
    private const int MostTrials = 1000;

    public static Command Create()
    {
        var options = new TrainOptions();
        var trials = new Option<int>("--trials") { Description = "configurations to sample", DefaultValueFactory = _ => 8 };
        var budget = new Option<int>("--budget") { Description = "most epochs one trial trains (the last rung); earlier rungs train half as many, then half again", DefaultValueFactory = _ => 20 };
        var workers = new Option<int>("--workers") { Description = "worker actors in this process, shared out over a rung's trials (which then train at the same time)", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var bind = new Option<string?>("--bind") { Description = "HOST:PORT: be a cluster coordinator whose trials `mtnn worker --seed HOST:PORT` processes train, instead of in-process workers" };
        var publicHost = new Option<string?>("--public-host") { Description = "with --bind: host name other nodes reach this one by (default: the bind host)" };
        var minWorkers = new Option<int>("--min-workers") { Description = "with --bind: workers each trial trains on", DefaultValueFactory = _ => 1 };
        var startWith = new Option<int>("--start-with") { Description = "with --bind: workers to wait for before the first trial starts", DefaultValueFactory = _ => 1 };
        var tlsOptions = new TlsOptions();
        var command = new Command("tune", "search learning rate, weight decay, dropout, layers, batch size and bits (random search, successive halving on validation); " +
                                          "the train options are the fixed base, and one given explicitly pins that setting");
        options.AddTo(command);
        var baseOptions = command.Options.ToArray(); // the train options, for the best trial's command line
        foreach (var option in new Option[] { trials, budget, workers, device, bind, publicHost, minWorkers, startWith }) command.Options.Add(option);
        tlsOptions.AddTo(command);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
            var cluster = parse.GetValue(bind) is { } endpoint ? ClusterCommands.CoordinatorNode(endpoint, parse.GetValue(publicHost), tlsOptions.Resolve(parse)) : null;
            if (cluster is not null && parse.GetResult(workers) is { Implicit: false })
                throw new ArgumentException("--workers names in-process workers; with --bind the trials train on `mtnn worker` processes (--min-workers each)");
            if (cluster is not null && parse.GetValue(minWorkers) < 1) throw new ArgumentException($"--min-workers must be ≥ 1 (got {parse.GetValue(minWorkers)})");
            if (cluster is not null && parse.GetValue(startWith) < 1) throw new ArgumentException($"--start-with must be ≥ 1 (got {parse.GetValue(startWith)})");
            foreach (var refused in new Option[] { options.Epochs, options.Resume })
                if (parse.GetResult(refused) is { Implicit: false })
                    throw new ArgumentException($"tune: {refused.Name} is not a tune option ({(refused == options.Epochs ? "--budget gives the most epochs a trial trains" : "a search starts afresh")})");
            if (parse.GetValue(trials) is < 1 or > MostTrials) throw new ArgumentException($"--trials must be 1..{MostTrials} (got {parse.GetValue(trials)})");
            var rungs = HyperparameterSearch.Rungs(parse.GetValue(trials), parse.GetValue(budget));
            var baseSpec = options.ToSpec(parse);
            var seed = parse.GetValue(options.Seed);
            var sampled = HyperparameterSearch.Sample(parse.GetValue(trials), seed, Space(options, parse));
            var outPath = options.OutPath(parse) ?? throw new ArgumentException("--out is required");
            var outDirectory = Claim(outPath, parse.GetValue(options.Overwrite));
            var embedded = new EmbeddedOptions(parse.GetValue(workers), parse.GetValue(device)!);
            PrecisionMode.Require(baseSpec.Precision, DeviceName.Parse(embedded.Device));
            var policy = new CheckpointPolicy(parse.GetValue(options.CheckpointEvery), parse.GetValue(options.KeepCheckpoints));
            policy.Validate();
            using var tuneLock = RunLock.Acquire(outDirectory, "mtnn tune", Console.WriteLine);
            if (cluster is null)
                return await Search((jobs, _) => GroupRun.RunInProcess($"tune-{ClusterCommands.NewRunId()}", jobs, embedded, () => null, cancel),
                    alive => Math.Max(1, embedded.Workers / alive));
            // one coordinator node for the whole search: each rung's trials join its feed of jobs, and its workers stay
            var feed = new JobFeed();
            async Task<int> SearchOnCluster()
            {
                try
                {
                    return await Search((jobs, allEnded) =>
                    {
                        foreach (var job in jobs) feed.Add(job);
                        return allEnded.ContinueWith(_ => { }, TaskScheduler.Default);
                    }, _ => parse.GetValue(minWorkers));
                }
                finally { feed.Close(); }
            }
            async Task<int> Released(Task<int> search)
            {
                var code = await search;
                await ClusterCommands.UntilReleased(feed);
                return code;
            }
            var id = $"tune-{ClusterCommands.NewRunId()}";
            return await ClusterCommands.RunCoordinatorNode<JobsActor, int>(cluster, Props.Create(() => new JobsActor(id, feed, parse.GetValue(startWith))),
                Released(SearchOnCluster()), cancel);

            // the search; runRung runs a rung's jobs until every one has ended, workersPerTrial says how many workers a trial takes
            async Task<int> Search(Func<IReadOnlyList<GroupJob>, Task, Task> runRung, Func<int, int> workersPerTrial)
            {
                var results = sampled.Select((p, k) => new TrialResult(k, $"trial-{k}", p)).ToArray();
                var alive = Enumerable.Range(0, results.Length).ToArray();
                foreach (var rung in rungs)
                {
                    Console.WriteLine($"rung {rung.Index + 1}/{rungs.Length}: {alive.Length} trial{(alive.Length > 1 ? "s" : "")}, at most {rung.Epochs} epoch{(rung.Epochs > 1 ? "s" : "")} each");
                    // the rung's trials as jobs of one coordinator: at the same time on different workers while there are
                    // enough (--workers shared out), else in turn
                    var jobs = new List<(int Trial, ResolvedRun Run, RunCompletion Completion, GroupJob Job)>();
                    foreach (var k in alive)
                    {
                        var trial = results[k];
                        var directory = Path.Combine(outDirectory, trial.Directory);
                        // a survivor trains again from scratch for the rung's epochs: trials are not resumed
                        var stale = Path.Combine(directory, TrainingCheckpoint.DirectoryName);
                        if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
                        var run = new ResolvedRun(ClusterCommands.NewRunId(), trial.Parameters.Apply(baseSpec, rung.Epochs), OutputDirectory.Claim(directory, overwrite: true), policy, null);
                        var completion = new RunCompletion(new PrefixedLines(Console.Out, $"{trial.Directory}: "));
                        completion.Info($"rung {rung.Index + 1}: {Describe(trial.Parameters)}");
                        var watch = new RunWatch(completion, run.OutDirectory, run.Spec, message => completion.Info($"warning: {message}"));
                        jobs.Add((k, run, completion, new GroupJob(run.ToJob(workersPerTrial(alive.Length)) with { KeepWorkers = true }, watch)));
                    }
                    await runRung(jobs.Select(j => j.Job).ToArray(), Task.WhenAll(jobs.Select(j => j.Completion.Outcome)));
                    foreach (var (k, run, completion, _) in jobs)
                    {
                        var trial = results[k];
                        var outcome = await completion.Outcome;
                        RunWriter.Write(run.OutDirectory, outcome);
                        var metrics = RunMetrics.From(outcome);
                        results[k] = trial with
                        {
                            Rung = rung.Index + 1, Epochs = outcome.History.Count, BestEpoch = outcome.BestEpoch,
                            ValidScore = outcome.History.First(h => h.Epoch == outcome.BestEpoch).ValidScore, TestRocAuc = metrics.MeanTestRocAuc,
                        };
                        results[k] = results[k] with { RungScores = [.. trial.RungScores, results[k].ValidScore] };
                        Console.WriteLine($"{trial.Directory}: validation score {Format(results[k].ValidScore)} at epoch {outcome.BestEpoch} (test ROC-AUC {Format(metrics.MeanTestRocAuc)}, for information)");
                    }
                    var next = rungs.ElementAtOrDefault(rung.Index + 1);
                    if (next is not null) alive = HyperparameterSearch.Best(alive.Select(k => (k, results[k].ValidScore)).ToArray(), next.Trials);
                }

                // the best is judged among the trials of the last rung: they trained the whole budget
                var best = results[HyperparameterSearch.Best(alive.Select(k => (k, results[k].ValidScore)).ToArray(), 1)[0]];
                var train = TrainCommandLine(parse, baseOptions, best, Path.Combine(outDirectory, "best"), baseSpec);
                WriteTable(Path.Combine(outDirectory, TableFile), results);
                WriteSummary(Path.Combine(outDirectory, SummaryFile), seed, parse.GetValue(budget), rungs, results, best, train);
                WriteReport(Path.Combine(outDirectory, ReportFile), rungs, results, best, train);
                Console.WriteLine($"best: {best.Directory}, validation score {Format(best.ValidScore)} after {best.Epochs} epochs (test ROC-AUC {Format(best.TestRocAuc)}): {Describe(best.Parameters)}");
                Console.WriteLine($"reproduce: {train}");
                Console.WriteLine($"wrote {Path.Combine(outDirectory, TableFile)}, {Path.Combine(outDirectory, SummaryFile)}, {Path.Combine(outDirectory, ReportFile)}");
                return 0;
            }
        }));
        return command;
    }

    /// <summary>The default space, with every searched setting the command line gives explicitly pinned to its value.</summary>
    private static SearchSpace Space(TrainOptions options, ParseResult parse)
    {
        var graph = options.ToSpec(parse) is { Model.Trunk: MtnnCluster.Model.TrunkKind.Graph } spec ? spec : null;
        var space = graph is null ? SearchSpace.Default : SearchSpace.Graph;
        bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
        if (Given(options.LearningRate)) space = space.PinLearningRate(parse.GetValue(options.LearningRate));
        if (Given(options.WeightDecay)) space = space.PinWeightDecay(parse.GetValue(options.WeightDecay));
        if (Given(options.Dropout)) space = space.PinDropout(parse.GetValue(options.Dropout));
        if (Given(options.Layers)) space = space.PinLayers(options.ToSpec(parse).Model.Layers);
        if (graph is not null)
        {
            if (Given(options.Depth)) space = space.PinDepth(graph.Model.Graph!.Depth);
            if (Given(options.HiddenSize)) space = space.PinHiddenSize(graph.Model.Graph!.Hidden);
            if (!graph.Featurizer.Fingerprint || Given(options.Bits)) space = space.PinBits(graph.Featurizer.Bits); // the graph alone reads no bits
        }
        if (Given(options.BatchSize)) space = space.PinBatchSize(parse.GetValue(options.BatchSize));
        if (Given(options.Bits)) space = space.PinBits(parse.GetValue(options.Bits));
        if (Given(options.InputDropout)) space = space.PinInputDropout(parse.GetValue(options.InputDropout));
        return space;
    }

    /// <summary>--out for a search: refused when it holds a run, or another search's table without --overwrite.</summary>
    private static string Claim(string path, bool overwrite)
    {
        var full = OutputDirectory.ClaimGroup(path, overwrite, resume: false);
        if (Path.Exists(Path.Combine(full, SummaryFile)) && !overwrite)
            throw new ArgumentException($"--out: {full} already holds a search ({SummaryFile}); choose another directory or pass --overwrite to replace it");
        Directory.CreateDirectory(full);
        return full;
    }

    /// <summary>The <c>mtnn train</c> that trains the trial again: the base options as given, the trial's settings, its epochs.</summary>
    private static string TrainCommandLine(ParseResult parse, Option[] baseOptions, TrialResult trial, string outDirectory, RunSpec spec)
    {
        string[] searched = ["--lr", "--weight-decay", "--dropout", "--input-dropout", "--layers", "--batch-size", "--bits", "--depth", "--hidden-size", "--out", "--overwrite", "--epochs"];
        var words = new List<string> { "mtnn", "train" };
        foreach (var option in baseOptions.Where(o => !searched.Contains(o.Name)))
        {
            if (parse.GetResult(option) is not { Implicit: false } given) continue;
            if (given.Tokens.Count == 0) words.Add(option.Name); // a flag
            foreach (var token in given.Tokens) words.AddRange([option.Name, Quote(token.Value)]);
        }
        foreach (var (option, value) in trial.Parameters.Options(spec)) words.AddRange([option, value]);
        words.AddRange(["--epochs", Number(trial.Epochs), "--out", Quote(outDirectory)]);
        return string.Join(' ', words);
    }

    private static void WriteTable(string path, IEnumerable<TrialResult> results)
    {
        var table = new StringBuilder("trial\tlr\tweight_decay\tdropout\tinput_dropout\tlayers\tbatch_size\tbits\trung\tepochs\tbest_epoch\tvalid_score\ttest_roc_auc\tdirectory\n");
        foreach (var r in results)
            table.AppendLine(string.Join('\t', Number(r.Trial), Number(r.Parameters.LearningRate), Number(r.Parameters.WeightDecay), Number(r.Parameters.Dropout),
                Number(r.Parameters.InputDropout), string.Join(',', r.Parameters.Layers), Number(r.Parameters.BatchSize), Number(r.Parameters.Bits), Number(r.Rung), Number(r.Epochs), Number(r.BestEpoch),
                Number(r.ValidScore), r.TestRocAuc is { } t ? Number(t) : "", r.Directory));
        File.WriteAllText(path, table.ToString());
    }

    private static void WriteSummary(string path, int seed, int budget, Rung[] rungs, TrialResult[] results, TrialResult best, string train)
    {
        object Row(TrialResult r) => new
        {
            trial = r.Trial, directory = r.Directory, lr = r.Parameters.LearningRate, weight_decay = r.Parameters.WeightDecay, dropout = r.Parameters.Dropout,
            input_dropout = r.Parameters.InputDropout, layers = r.Parameters.Layers, depth = r.Parameters.Depth, hidden_size = r.Parameters.Hidden, batch_size = r.Parameters.BatchSize, bits = r.Parameters.Bits, rung = r.Rung, epochs = r.Epochs, best_epoch = r.BestEpoch,
            valid_score = double.IsNaN(r.ValidScore) ? (double?)null : r.ValidScore, test_roc_auc = r.TestRocAuc, rung_scores = r.RungScores,
        };
        var summary = new
        {
            seed, budget, reduction = HyperparameterSearch.Reduction,
            rungs = rungs.Select(r => new { epochs = r.Epochs, trials = r.Trials }),
            trials = results.Select(Row), best = Row(best), train_command = train,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The search as a page: the best trial and its command, each trial's score rung by rung (a plot), the table.</summary>
    private static void WriteReport(string path, Rung[] rungs, TrialResult[] results, TrialResult best, string train)
    {
        var e = ReportWriter.E;
        var html = new StringBuilder();
        html.Append($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Search · MtnnCluster report</title>
            <style>{ReportWriter.Style}</style>
            </head><body>
            <h1>Hyperparameter search <small>{results.Length} trials, rungs of {string.Join(" / ", rungs.Select(r => $"{r.Trials} × {r.Epochs}"))} epochs</small></h1>
            <p>Best by validation score: <b>{e(best.Directory)}</b>, {Format(best.ValidScore)} after {best.Epochs} epochs ({e(Describe(best.Parameters))}).
            Test ROC-AUC, for information only: {Format(best.TestRocAuc)}.</p>
            <p>Train it again: <code>{e(train)}</code></p>

            """);
        ReportWriter.Image(html, ReportPlots.SearchRungs(rungs.Select(r => r.Epochs).ToArray(),
            results.Select(r => (r.Directory, r.RungScores)).ToArray(), Array.IndexOf(results, best)), "validation score of each trial after each rung", ReportPlots.Width);
        html.Append("<table><tr><th>trial</th><th>lr</th><th>weight decay</th><th>dropout</th><th>input dropout</th><th>layers</th><th>batch</th><th>bits</th><th>rung</th><th>epochs</th><th>best epoch</th><th>validation</th><th>test ROC-AUC</th></tr>\n");
        foreach (var r in results.OrderByDescending(r => r.Rung).ThenByDescending(r => double.IsNaN(r.ValidScore) ? double.MinValue : r.ValidScore))
            html.Append($"<tr><td>{e(r.Directory)}</td><td>{Short(r.Parameters.LearningRate)}</td><td>{Short(r.Parameters.WeightDecay)}</td><td>{Short(r.Parameters.Dropout)}</td><td>{Short(r.Parameters.InputDropout)}</td>" +
                        $"<td>{string.Join(',', r.Parameters.Layers)}</td><td>{r.Parameters.BatchSize}</td><td>{r.Parameters.Bits}</td><td>{r.Rung}</td><td>{r.Epochs}</td>" +
                        $"<td>{r.BestEpoch}</td><td>{Format(r.ValidScore)}</td><td>{Format(r.TestRocAuc)}</td></tr>\n");
        html.Append("</table>\n</body></html>\n");
        File.WriteAllText(path, html.ToString());
    }

    private static string Describe(TrialParameters p) =>
        $"--lr {Short(p.LearningRate)} --weight-decay {Short(p.WeightDecay)} --dropout {Short(p.Dropout)} --input-dropout {Short(p.InputDropout)} --layers {string.Join(',', p.Layers)} --batch-size {p.BatchSize} --bits {p.Bits}" +
        (p.Depth > 0 ? $" --depth {p.Depth} --hidden-size {p.Hidden}" : "");

    /// <summary>For reading; the table, tune.json and the train command have the exact values.</summary>
    private static string Short(double value) => value.ToString("G3", CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture); // shortest round trip: the command line reproduces the trial exactly

    private static string Format(double? value) => value is { } v && !double.IsNaN(v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";

    private static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsLetterOrDigit(c) || "-_./:,=+@".Contains(c)) ? word : $"'{word.Replace("'", "'\\''")}'";

    /// <summary>A trial and, once it has trained, its last rung's outcome.</summary>
    private sealed record TrialResult(int Trial, string Directory, TrialParameters Parameters, int Rung = 0, int Epochs = 0, int BestEpoch = 0,
        double ValidScore = double.NaN, double? TestRocAuc = null)
    {
        /// <summary>The validation score after each rung the trial trained in.</summary>
        public IReadOnlyList<double> RungScores { get; init; } = [];
    }
}
