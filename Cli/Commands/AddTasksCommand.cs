using System.CommandLine;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn add-tasks</c>: heads for new tasks on a trained checkpoint's frozen trunk, in this process.</summary>
public static class AddTasksCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "checkpoint directory written by train (…/checkpoint)", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "CSV (or .csv.gz), wide or long, with labels of the new tasks only", Required = true };
        var smilesColumn = new Option<string?>("--smiles-column") { Description = "SMILES column (default: the one the model was trained with)" };
        var longColumns = new LongFormatOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "directory for checkpoint/ (old and new tasks) and metrics.json", Required = true };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index>", DefaultValueFactory = _ => "cpu" };
        var command = new Command("add-tasks", "train heads for new tasks on a trained trunk (frozen) and write a checkpoint with old and new tasks")
            { checkpoint, data, smilesColumn, longColumns.TaskColumn, longColumns.LabelColumn, output, device };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var checkpointPath = parse.GetValue(checkpoint)!.FullName;
            var outDirectory = parse.GetValue(output)!.FullName;
            var target = Path.Combine(outDirectory, "checkpoint");
            foreach (var existing in new[] { target, Path.Combine(outDirectory, "metrics.json") })
                if (Path.Exists(existing)) throw new IOException($"--out {outDirectory}: {existing} already exists");
            var trained = Checkpoint.Read(checkpointPath);
            CheckpointCompatibility.Require(CheckpointCompatibility.CompareWeights(trained), checkpointPath, "its own model.json");
            var spec = trained.Model.Spec with
            {
                Dataset = new DatasetSpec([parse.GetValue(data)!.FullName], parse.GetValue(smilesColumn) ?? trained.Model.Spec.Dataset.SmilesColumn,
                    null, null, null, parse.GetValue(longColumns.TaskColumn), parse.GetValue(longColumns.LabelColumn)),
            };
            var prepared = PreparedDataset.Prepare(spec, message => Console.Error.WriteLine($"warning: {message}"));
            var added = TaskAdder.Add(trained, prepared, DeviceName.Parse(parse.GetValue(device)!));
            added.Checkpoint.Write(target);
            File.WriteAllBytes(Path.Combine(outDirectory, "metrics.json"), JsonSerializer.SerializeToUtf8Bytes(Metrics(checkpointPath, added), Checkpoint.Json));
            Console.WriteLine($"{added.Tasks.Length} tasks added ({added.Molecules} molecules, {added.Fits.Sum(f => f.Labels)} labels) to the " +
                              $"{trained.Model.Tasks.Length} of {checkpointPath} in {added.Seconds:F1} s: {target}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static object Metrics(string from, AddedTasks added) => new
    {
        Checkpoint = from,
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
