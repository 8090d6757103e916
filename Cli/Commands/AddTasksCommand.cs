using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Coordinator;
using MtnnCluster.Data;
using MtnnCluster.Training;

using MtnnCluster.Cli.Output;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// <c>mtnn add-tasks</c>: heads for new tasks on a trained checkpoint's frozen trunk, fitted by workers as a training
/// run's are: in this process (<c>--workers N</c>), or, with <c>--bind</c>, by <c>mtnn worker</c> processes that join
/// this node as they join a training coordinator. Either way the same actors (<see cref="TaskAdderActor"/>,
/// <see cref="WorkerActor"/>) do it, and the heads are those one process fits.
/// </summary>
public static class AddTasksCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "the trained model: a run's --out directory or a checkpoint directory", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "CSV (or .csv.gz), wide or long, with labels of the new tasks only", Required = true };
        var smilesColumn = new Option<string?>("--smiles-column") { Description = "SMILES column (default: the one the model was trained with)" };
        var longColumns = new LongFormatOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "directory for checkpoint/ (old and new tasks) and metrics.json", Required = true };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index> (of the in-process workers)", DefaultValueFactory = _ => "cpu" };
        var workers = new Option<int>("--workers") { Description = "in-process workers the new tasks are shared out over (without --bind)", DefaultValueFactory = _ => 1 };
        var bind = new Option<string?>("--bind") { Description = "HOST:PORT: be a cluster coordinator that `mtnn worker --seed HOST:PORT` processes join, instead of in-process workers" };
        var publicHost = new Option<string?>("--public-host") { Description = "with --bind: host name other nodes reach this one by (default: the bind host)" };
        var minWorkers = new Option<int>("--min-workers") { Description = "with --bind: workers to wait for before the tasks are shared out", DefaultValueFactory = _ => 1 };
        var tlsOptions = new TlsOptions();
        var command = new Command("add-tasks", "train heads for new tasks on a trained trunk (frozen) and write a checkpoint with old and new tasks")
            { checkpoint, data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, longColumns.LabelConflicts, output, device, workers, bind, publicHost, minWorkers };
        tlsOptions.AddTo(command);
        command.SetAction((parse, cancel) => CommandErrors.Guard(async () =>
        {
            var clock = Stopwatch.StartNew();
            var inProcess = parse.GetValue(workers);
            var cluster = parse.GetValue(bind) is { } endpoint ? ClusterCommands.CoordinatorNode(endpoint, parse.GetValue(publicHost), tlsOptions.Resolve(parse)) : null;
            if (cluster is null && inProcess < 1) throw new ArgumentException($"--workers must be ≥ 1 (got {inProcess})");
            if (cluster is not null && parse.GetValue(minWorkers) < 1) throw new ArgumentException($"--min-workers must be ≥ 1 (got {parse.GetValue(minWorkers)})");
            if (cluster is not null && parse.GetResult(workers) is { Implicit: false }) throw new ArgumentException("--workers names in-process workers; with --bind the workers are `mtnn worker` processes (--min-workers)");
            var outDirectory = parse.GetValue(output)!.FullName;
            if (File.Exists(outDirectory)) throw new ArgumentException($"--out: {outDirectory} is a file; give a directory for checkpoint/ and metrics.json");
            var target = Path.Combine(outDirectory, "checkpoint");
            // one command per output directory, as train and coordinator: two add-tasks into one --out would interleave their files
            using var runLock = RunLock.Acquire(outDirectory, "mtnn add-tasks", message => Console.Error.WriteLine(message));
            foreach (var existing in new[] { target, Path.Combine(outDirectory, "metrics.json") })
                if (Path.Exists(existing)) throw new IOException($"--out {outDirectory}: {existing} already exists");
            var source = ModelSource.Load(parse.GetValue(checkpoint)!.FullName);
            var trained = source.Single();
            var checkpointPath = source.Path;
            Console.Error.WriteLine($"adding tasks to {source.Description}");
            var spec = trained.Model.Spec with
            {
                Dataset = new DatasetSpec([parse.GetValue(data)!.FullName], parse.GetValue(smilesColumn) ?? trained.Model.Spec.Dataset.SmilesColumn,
                    null, null, null, parse.GetValue(longColumns.TaskColumn), parse.GetValue(longColumns.LabelColumn), LongFormatOptions.ParseConflicts(parse.GetValue(longColumns.LabelConflicts)!)),
            };
            var deviceName = parse.GetValue(device)!;
            DeviceName.Parse(deviceName);
            // invalid SMILES: one line and a file, as train says them; other warnings as they come
            var invalid = new List<InvalidSmilesRow>();
            var prepared = PreparedDataset.Load(spec, message =>
            {
                if (RunLog.TryParseInvalid(message, out var row)) invalid.Add(row);
                else Console.Error.WriteLine($"warning: {message}");
            });
            if (invalid.Count > 0)
            {
                Directory.CreateDirectory(outDirectory);
                var file = Path.Combine(outDirectory, RunLog.InvalidSmilesFile);
                RunLog.WriteInvalid(file, invalid);
                Console.Error.WriteLine($"{spec.Dataset.Paths[0]}: {RunLog.Describe(invalid, file)}");
            }
            TaskAdder.Require(trained, prepared);
            var job = new TaskAdderJob(ClusterCommands.NewRunId().Replace("run-", "add-tasks-"), trained, prepared, spec, cluster is null ? inProcess : parse.GetValue(minWorkers));
            var completion = new TaskAdderCompletion();
            var coordinator = Props.Create(() => new TaskAdderActor(job, completion));
            var fitted = cluster is null
                ? await AkkaNode.RunWithLocalWorkers(coordinator, LocalWorkers.Of(inProcess, deviceName), _ => completion.Fitted.WaitAsync(cancel))
                : await ClusterCommands.RunCoordinatorNode<TaskAdderActor, IReadOnlyList<FittedHeads>>(cluster, coordinator, completion.Fitted, cancel);
            var added = TaskAdder.Assemble(trained, prepared, fitted, clock.Elapsed.TotalSeconds);
            added.Checkpoint.Write(target);
            File.WriteAllBytes(Path.Combine(outDirectory, "metrics.json"), JsonSerializer.SerializeToUtf8Bytes(Metrics(checkpointPath, added, fitted.Count), Checkpoint.Json));
            Console.WriteLine($"{added.Tasks.Length} tasks added ({added.Molecules} molecules, {added.Fits.Sum(f => f.Labels)} labels) to the " +
                              $"{trained.Model.Tasks.Length} of {checkpointPath} in {added.Seconds:F1} s: {target}");
            return 0;
        }));
        return command;
    }

    /// <summary>The job's end, as the command awaits it; progress goes to standard error.</summary>
    private sealed class TaskAdderCompletion : ITaskAdderObserver
    {
        private readonly TaskCompletionSource<IReadOnlyList<FittedHeads>> _fitted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task<IReadOnlyList<FittedHeads>> Fitted => _fitted.Task;
        public void Info(string message) => Console.Error.WriteLine(message);
        public void Completed(IReadOnlyList<FittedHeads> fitted) => _fitted.TrySetResult(fitted);
        public void Failed(Exception error) => _fitted.TrySetException(error);
    }

    private static object Metrics(string from, AddedTasks added, int shares) => new
    {
        Checkpoint = from,
        Shares = shares, // the parts the new tasks were fitted in: one per worker given tasks
        TasksAdded = added.Tasks.Length,
        TasksTotal = added.Checkpoint.Model.Tasks.Length,
        Molecules = added.Molecules,
        WallSeconds = added.Seconds,
        Fit = new
        {
            Method = "L2-penalised logistic/least-squares head per task on the frozen trunk's outputs; penalty chosen by stratified K-fold cross-validation on the task's labels",
            L2Grid = HeadFitter.L2Grid,
            HeadFitter.Folds,
            HeadFitter.Steps,
            HeadFitter.LearningRate,
        },
        Tasks = added.Tasks.Select((t, j) => new
        {
            t.Name,
            Kind = t.Kind,
            added.Fits[j].Labels,
            added.Fits[j].Positives,
            added.Fits[j].L2,
            CrossValidatedLoss = added.Fits[j].HeldOutLoss,
        }),
    };
}
