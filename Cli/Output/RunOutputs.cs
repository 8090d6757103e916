using System.Globalization;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Data;
using MtnnCluster.Training;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// The files of a finished run a user takes into their own work, beside metrics.json and the model: which molecule
/// went to which split (<see cref="SplitsFile"/>), the model's predictions on the validation and test molecules next to
/// their labels (to compare models on the same split, as chemprop's outputs allow), and how the run was started.
/// </summary>
public static class RunOutputs
{
    public const string SplitsFile = "splits.csv";
    public const string TestPredictionsFile = "predictions_test.csv";
    public const string ValidPredictionsFile = "predictions_valid.csv";

    /// <summary>The command line of this process as a user typed it (<c>mtnn train …</c>); null outside the executable (tests).</summary>
    public static string? CommandLine { get; set; }

    public static string Quote(IEnumerable<string> args) =>
        string.Join(' ', args.Select(a => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:,=+@%".Contains(c)) ? a : $"'{a.Replace("'", "'\\''")}'"));

    /// <summary><c>row,smiles,split</c>: every molecule the run trained or scored on, by its row in the prepared dataset.</summary>
    public static void WriteSplits(string outDirectory, PreparedDataset data)
    {
        using var writer = new StreamWriter(Path.Combine(outDirectory, SplitsFile));
        writer.WriteLine("row,smiles,split");
        for (var row = 0; row < data.RowCount; row++)
            writer.WriteLine($"{row},{Csv.Quote(data.Smiles[row])},{data.Split.Of(row).ToString().ToLowerInvariant()}");
    }

    /// <summary>
    /// <c>row,smiles,task,label,prediction</c>, one line per labelled cell of the split (long format: a dataset of
    /// thousands of sparse tasks stays as small as its labels), from the model in <paramref name="checkpointDirectory"/>
    /// (probabilities for classification, data units for regression).
    /// </summary>
    public static void WritePredictions(string path, string checkpointDirectory, PreparedDataset data, Split split)
    {
        var model = Checkpoint.Read(checkpointDirectory);
        var rows = data.Split.Rows(split);
        var tasks = data.TaskCount;
        using var writer = new StreamWriter(path);
        writer.WriteLine("row,smiles,task,label,prediction");
        const int chunk = 4096; // [rows × tasks] a chunk at a time: thousands of tasks stay within memory
        for (var start = 0; start < rows.Length; start += chunk)
        {
            var part = rows.Skip(start).Take(chunk).ToArray();
            var predictions = Ensemble.Predict([model], data.Inputs, part, TorchSharp.torch.CPU);
            for (var i = 0; i < part.Length; i++)
            {
                var row = part[i];
                var labelled = data.Labels.TasksOf(row);
                var values = data.Labels.ValuesOf(row);
                for (var c = 0; c < labelled.Length; c++)
                    writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{row},{Csv.Quote(data.Smiles[row])},{Csv.Quote(data.Tasks[labelled[c]].Name)},{values[c]:G9},{predictions[i * tasks + labelled[c]]:G9}"));
            }
        }
    }

    /// <summary>
    /// Splits and predictions of a finished run; a file that cannot be written is a warning, never the end of a run
    /// whose model and metrics are already safe.
    /// </summary>
    public static void TryWrite(string outDirectory, RunOutcome outcome, Action<string> warn)
    {
        try
        {
            WriteSplits(outDirectory, outcome.Data);
            var checkpoint = Path.Combine(outDirectory, OutputDirectory.CheckpointDirectory);
            WritePredictions(Path.Combine(outDirectory, ValidPredictionsFile), checkpoint, outcome.Data, Split.Valid);
            WritePredictions(Path.Combine(outDirectory, TestPredictionsFile), checkpoint, outcome.Data, Split.Test);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            warn($"{outDirectory}: splits and predictions not written ({e.Message}); the model and metrics.json are");
        }
    }

    /// <summary>
    /// The training checkpoints of a run that finished and wrote its model: they served resuming, and a finished run
    /// is not resumed (its model is checkpoint/), so they go unless the user asked to keep them (<c>--keep-checkpoints</c>).
    /// </summary>
    public static void RemoveTrainingCheckpoints(string outDirectory, Action<string> warn)
    {
        var directory = Path.Combine(outDirectory, TrainingCheckpoint.DirectoryName);
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"{directory}: training checkpoints not removed ({e.Message})");
        }
    }
}
