using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Coordinator;
using MtnnCluster.Data;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>A small slice of Tox21 in a temporary directory, shared by the training tests.</summary>
public sealed class Tox21Slice : IDisposable
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), $"mtnn-tests-{Guid.NewGuid():N}");
    public string Csv { get; }

    public Tox21Slice()
    {
        System.IO.Directory.CreateDirectory(Directory);
        Csv = Path.Combine(Directory, "tox21-slice.csv");
        File.WriteAllLines(Csv, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(3001));
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

public sealed class EmbeddedTrainingTests(Tox21Slice slice) : IClassFixture<Tox21Slice>
{
    private RunSpec Spec(ScheduleKind schedule, int epochs = 3) => new(
        new DatasetSpec([slice.Csv], "smiles", null, null, null),
        new FeaturizerSpec(2, 1024, false),
        new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([64, 32], 0.1),
        new OptimizerSpec(3e-3, 1e-4, 64, false),
        new ScheduleSpec(schedule, epochs, 1, 1, 0),
        0);

    private async Task<(RunOutcome Outcome, string Out)> Train(RunSpec spec, int workers = 2, string? name = null)
    {
        var outDirectory = Path.Combine(slice.Directory, name ?? Guid.NewGuid().ToString("N"));
        var job = new TrainJob($"test-{Guid.NewGuid():N}", spec, outDirectory, workers);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var outcome = await EmbeddedRun.RunAsync(job, new EmbeddedOptions(workers, "cpu", VerifySerialization: true), new RunCompletion(TextWriter.Null), timeout.Token);
        return (outcome, outDirectory);
    }

    [Theory]
    [InlineData(ScheduleKind.Joint)]
    [InlineData(ScheduleKind.Alternate)]
    public async Task Two_workers_train_every_task_once_and_write_metrics_and_a_checkpoint(ScheduleKind schedule)
    {
        var (outcome, outDirectory) = await Train(Spec(schedule, epochs: 8));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        var root = metrics.RootElement;
        var tasks = root.GetProperty("tasks").EnumerateArray().ToArray();
        Assert.Equal(12, tasks.Length);
        var workers = root.GetProperty("workers").EnumerateArray().ToArray();
        Assert.Equal(2, workers.Length);
        var trainedBy = workers.SelectMany(w => w.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()!)).ToArray();
        Assert.Equal(tasks.Select(t => t.GetProperty("name").GetString()!).Order(), trainedBy.Order()); // each task by exactly one worker
        // eight epochs on 3,000 rows: the model has fitted its training rows and generalises somewhat
        Assert.InRange(root.GetProperty("mean_train_roc_auc").GetDouble(), 0.85, 1.0);
        Assert.InRange(root.GetProperty("mean_test_roc_auc").GetDouble(), 0.62, 1.0);
        Assert.Equal(8, root.GetProperty("history").GetArrayLength());
        if (schedule == ScheduleKind.Alternate)
            Assert.Equal(["heads", "trunk", "heads", "trunk", "heads", "trunk", "heads", "trunk"],
                root.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("phase").GetString()));
        Assert.All(tasks, t => Assert.True(t.GetProperty("test_labels").GetInt32() > 0));
        Assert.True(File.Exists(Path.Combine(outDirectory, "checkpoint", "manifest.json")));
        Assert.Equal(12, outcome.FinalScores.Count(s => s.Split == Split.Test));
    }

    [Fact]
    public async Task Local_steps_with_trunk_averaging_train_as_well()
    {
        var spec = Spec(ScheduleKind.Joint, epochs: 8);
        var (outcome, outDirectory) = await Train(spec with { Schedule = spec.Schedule with { SyncEvery = 3 } });
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        Assert.InRange(metrics.RootElement.GetProperty("mean_train_roc_auc").GetDouble(), 0.85, 1.0);
        Assert.InRange(metrics.RootElement.GetProperty("mean_test_roc_auc").GetDouble(), 0.62, 1.0);
        var synchronous = await Train(spec);
        Assert.NotEqual(synchronous.Outcome.Trunk[0].Bytes, outcome.Trunk[0].Bytes); // a different reduction really ran
    }

    [Fact]
    public async Task With_one_worker_local_steps_are_the_synchronous_steps()
    {
        // one worker's K local AdamW steps, then the "average" of its one trunk, take the same steps as K reduced
        // steps on the coordinator: the same gradients, divided by the same labels, into the same optimizer state
        var spec = Spec(ScheduleKind.Joint, epochs: 2);
        var local = await Train(spec with { Schedule = spec.Schedule with { SyncEvery = 4 } }, workers: 1);
        var synchronous = await Train(spec, workers: 1);
        Assert.Equal(synchronous.Outcome.Trunk.Select(t => t.Bytes), local.Outcome.Trunk.Select(t => t.Bytes));
        Assert.Equal(synchronous.Outcome.HeadWeight.Bytes, local.Outcome.HeadWeight.Bytes);
    }

    [Theory]
    [InlineData(ScheduleKind.Joint)]
    [InlineData(ScheduleKind.Alternate)]
    public async Task One_and_three_workers_train_the_same_model_running_the_trunk_once_per_training_row(ScheduleKind schedule)
    {
        // rows are shared out for the trunk and tasks for the heads: the global batch, dropout and the reduced step do
        // not depend on the number of workers, so neither does the model (up to float summation order)
        var spec = Spec(schedule, epochs: 4);
        var one = await Train(spec, workers: 1);
        var three = await Train(spec, workers: 3);
        var trainRows = one.Outcome.Data.Split.Train.Length;
        foreach (var (outcome, outDirectory) in new[] { one, three })
        {
            using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
            foreach (var epoch in metrics.RootElement.GetProperty("history").EnumerateArray())
                Assert.Equal(trainRows, epoch.GetProperty("trunk_rows").GetInt64()); // a head epoch embeds every row once too
        }
        double MeanTest(RunOutcome o) => MtnnCluster.Evaluation.MetricSummary.MeanScored(o.FinalScores.Where(s => s.Split == Split.Test), m => m.RocAuc, 1);
        Assert.Equal(MeanTest(one.Outcome), MeanTest(three.Outcome), 0.005);
        Assert.Equal(one.Outcome.BestEpoch, three.Outcome.BestEpoch);
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    public async Task Predict_from_the_checkpoint_gives_the_probabilities_of_the_trained_model(bool descriptors, int descriptorSet)
    {
        var spec = Spec(ScheduleKind.Joint);
        var (outcome, outDirectory) = await Train(spec with { Featurizer = spec.Featurizer with { Descriptors = descriptors, DescriptorSet = descriptorSet } });
        Assert.Equal(1024 + (descriptors ? MtnnCluster.Chem.MoleculeDescriptors.Count(descriptorSet) : 0), outcome.Data.FeatureSize);
        var checkpoint = Checkpoint.Read(Path.Combine(outDirectory, "checkpoint"));
        var rows = Predictor.Predict(checkpoint, slice.Csv, null, CPU);

        var data = outcome.Data;
        using var features = DeviceFeatures.Create(data.Features, Enumerable.Range(0, data.RowCount).ToArray(), data.FeatureSize, CPU);
        using var trunk = new FingerprintTrunk(data.FeatureSize, outcome.Spec.Model.Layers, 1, CPU);
        trunk.Load(outcome.Trunk);
        using var heads = new HeadBlock(Enumerable.Range(0, data.TaskCount).ToArray(), TensorCodec.Decode(outcome.HeadWeight), TensorCodec.Decode(outcome.HeadBias));
        var inMemory = Inference.Predict(trunk, heads, features, data.Tasks, data.Scales);

        var predicted = rows.Where(r => r.Values is not null).ToArray();
        Assert.Equal(data.RowCount, predicted.Length);
        for (var row = 0; row < data.RowCount; row++)
        {
            Assert.Equal(data.Smiles[row], predicted[row].Smiles);
            Assert.Equal(inMemory.AsSpan(row * data.TaskCount, data.TaskCount).ToArray(), predicted[row].Values!);
        }
        Assert.All(inMemory, p => Assert.InRange(p, 0f, 1f));

        var csv = Path.Combine(outDirectory, "predictions.csv");
        Predictor.WriteCsv(csv, checkpoint, rows);
        var header = File.ReadLines(csv).First().Split(',');
        Assert.Equal(["smiles", "error", .. data.Tasks.Select(t => t.Name)], header);
        Assert.Equal(rows.Count + 1, File.ReadLines(csv).Count());
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_model()
    {
        var first = await Train(Spec(ScheduleKind.Alternate));
        var second = await Train(Spec(ScheduleKind.Alternate));
        Assert.Equal(first.Outcome.Trunk.Select(t => t.Bytes), second.Outcome.Trunk.Select(t => t.Bytes));
        Assert.Equal(first.Outcome.HeadWeight.Bytes, second.Outcome.HeadWeight.Bytes);
    }

    [Fact]
    public async Task A_damaged_checkpoint_is_refused_with_the_file_named()
    {
        var (_, outDirectory) = await Train(Spec(ScheduleKind.Joint, epochs: 1));
        var weights = Path.Combine(outDirectory, "checkpoint", "weights.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(weights, bytes);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Read(Path.Combine(outDirectory, "checkpoint")));
        Assert.Contains("weights.safetensors", error.Message);
    }
}
