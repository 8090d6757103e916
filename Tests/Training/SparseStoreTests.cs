using System.Diagnostics;
using MtnnCluster.Data;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Tests.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>The compact stores a worker trains from: sparse labels, packed features, and their per-batch expansion.</summary>
public sealed class SparseStoreTests
{
    /// <summary>A random dense matrix (NaN: missing) of the given density, row-major.</summary>
    private static float[] RandomDense(int rows, int tasks, double density, int seed, bool regression = false)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * tasks).Select(_ => random.NextDouble() < density
            ? regression ? (float)random.NextDouble() * 4 - 2 : random.Next(2)
            : float.NaN).ToArray();
    }

    [Fact]
    public void Sparse_labels_hold_exactly_the_labelled_cells_of_the_rows_chosen()
    {
        var dense = RandomDense(50, 7, 0.3, 1);
        int[] rows = [4, 0, 49, 17];
        var labels = SparseLabels.FromDense(dense, 7, rows);
        Assert.Equal(rows.Length, labels.Rows);
        Assert.Equal(rows.Sum(r => Enumerable.Range(0, 7).Count(t => !float.IsNaN(dense[r * 7 + t]))), labels.Count);
        for (var i = 0; i < rows.Length; i++)
            for (var t = 0; t < 7; t++)
                Assert.Equal(dense[rows[i] * 7 + t], labels.Label(i, t)); // NaN equals NaN here: missing stays missing
        var counts = labels.CountPerTask([0, 1, 2, 3]);
        for (var t = 0; t < 7; t++)
            Assert.Equal(rows.Count(r => !float.IsNaN(dense[r * 7 + t])), counts[t]);
    }

    [Theory]
    [InlineData(new long[] { 0, 2 }, new[] { 1, 1 }, "out of order or twice")]
    [InlineData(new long[] { 0, 2 }, new[] { 1, 9 }, "names task 9 of 5")]
    [InlineData(new long[] { 0, 3 }, new[] { 1, 2 }, "do not match")]
    public void Inconsistent_sparse_labels_are_refused_with_the_row_named(long[] rowStart, int[] tasks, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => new SparseLabels(5, rowStart, tasks, new float[tasks.Length]));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_stored_label_may_not_be_missing()
    {
        var error = Assert.Throws<ArgumentException>(() => new SparseLabels(5, [0, 1], [3], [float.NaN]));
        Assert.Contains("row 0, task 3", error.Message);
    }

    private static SparseFeatures[] RandomFeatures(int rows, int size, Func<Random, float> value, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ =>
        {
            var indices = Enumerable.Range(0, size).Where(_ => random.NextDouble() < 0.1).ToArray();
            return new SparseFeatures(indices, indices.Select(_ => value(random)).ToArray());
        }).ToArray();
    }

    private static float[] Dense(SparseFeatures[] features, int[] rows, int size)
    {
        var values = new float[rows.Length * size];
        for (var i = 0; i < rows.Length; i++)
            for (var k = 0; k < features[rows[i]].Indices.Length; k++)
                values[i * size + features[rows[i]].Indices[k]] = features[rows[i]].Values[k];
        return values;
    }

    [Theory]
    [InlineData(1021, "bits", "packed bits")] // not a multiple of 8: the last byte's spare bits are cut off
    [InlineData(2048, "bits", "packed bits")]
    [InlineData(300, "counts", "sparse uint8 codes")]
    [InlineData(300, "log counts", "sparse uint8 codes")]
    [InlineData(3000, "real", "float32")] // over 255 distinct values in the rows stored
    public void Device_features_expand_to_the_dense_rows_they_were_made_from(int size, string kind, string layout)
    {
        Func<Random, float> value = kind switch
        {
            "bits" => _ => 1f,
            "counts" => r => r.Next(1, 200),
            "log counts" => r => MathF.Log(1 + r.Next(1, 200)),
            _ => r => (float)r.NextDouble(),
        };
        var features = RandomFeatures(40, size, value, size);
        int[] rows = [3, 39, 0, 12, 12, 7];
        using var stored = DeviceFeatures.Create(features, rows, size, CPU);
        Assert.Equal(layout, stored.Layout);
        if (kind == "bits") Assert.Equal(rows.Length * ((size + 7) / 8) + 256 * 8 * 4, stored.StoredBytes); // 1/32 of float32
        if (kind.EndsWith("counts")) // 5 bytes a set feature, 8 a row offset, the table of values
            Assert.Equal(rows.Sum(r => features[r].Indices.Length) * 5 + (rows.Length + 1) * 8 + 256 * 4, stored.StoredBytes);
        var expected = Dense(features, rows, size);
        using var index = tensor(new long[] { 5, 0, 2 });
        using var picked = stored.Rows(index);
        Assert.Equal(new long[] { 3, size }, picked.shape);
        Assert.Equal(expected.Skip(5 * size).Take(size).Concat(expected.Take(size)).Concat(expected.Skip(2 * size).Take(size)), picked.data<float>().ToArray());
        using var slice = stored.Slice(1, 4);
        Assert.Equal(expected.Skip(size).Take(4 * size), slice.data<float>().ToArray());
        if (kind == "real") return; // float32 storage: the device finds the non-zero features itself
        // the same rows as an embedding bag's input, read from the packed or coded bytes
        var sparse = stored.NonZeroRows([5, 0, 2])!;
        var indices = sparse.Indices.data<long>().ToArray();
        var offsets = sparse.Offsets.data<long>().Append(indices.Length).ToArray();
        var values = sparse.Values?.data<float>().ToArray() ?? Enumerable.Repeat(1f, indices.Length).ToArray();
        foreach (var (at, row) in new[] { (0, 5), (1, 0), (2, 2) })
        {
            var dense = new float[size];
            for (var k = offsets[at]; k < offsets[at + 1]; k++) dense[indices[k]] = values[k];
            Assert.Equal(expected.Skip(row * size).Take(size), dense);
        }
    }

    [Fact]
    public void A_feature_index_outside_the_feature_size_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => DeviceFeatures.Create([new SparseFeatures([3, 64], [1, 1])], [0], 64, CPU));
        Assert.Contains("feature index 64", error.Message);
    }

    [Fact]
    public void A_batch_of_device_labels_is_its_labelled_cells_in_row_order_with_their_weights()
    {
        const int rows = 30, tasks = 6;
        var dense = RandomDense(rows, tasks, 0.4, 2);
        for (var r = 0; r < rows; r++) dense[r * tasks + 5] = float.IsNaN(dense[r * tasks + 5]) ? float.NaN : dense[r * tasks + 5] * 3 - 1; // column 5: regression
        for (var t = 0; t < tasks; t++) dense[7 * tasks + t] = float.NaN; // row 7: no label at all
        var sparse = SparseLabels.FromDense(dense, tasks, Enumerable.Range(0, rows).ToArray());
        var rowStart = new long[rows + 1];
        var (columns, targets) = (new List<int>(), new List<float>());
        for (var r = 0; r < rows; r++)
        {
            columns.AddRange(sparse.TasksOf(r).ToArray());
            targets.AddRange(sparse.ValuesOf(r).ToArray());
            rowStart[r + 1] = columns.Count;
        }
        bool[] regression = [false, false, false, false, false, true];
        float[] positiveWeights = [1, 2, 3, 4, 5, 1];
        using var store = new DeviceLabels(rowStart, [.. columns], [.. targets], regression, positiveWeights, CPU);

        long[] batch = [7, 29, 0, 13];
        using var scope = NewDisposeScope();
        var cells = store.Batch(batch, tensor(batch));
        var expected = new List<(long Row, long Column, float Target, float Weight, bool Regression)>();
        for (var i = 0; i < batch.Length; i++)
            for (var c = 0; c < tasks; c++)
            {
                var y = dense[batch[i] * tasks + c];
                if (!float.IsNaN(y)) expected.Add((i, c, y, !regression[c] && y == 1 ? positiveWeights[c] : 1, regression[c]));
            }
        Assert.Equal(expected.Count, cells.Count);
        Assert.Equal(expected.Select(e => e.Row), cells.Rows.data<long>().ToArray());
        Assert.Equal(expected.Select(e => e.Column), cells.Columns.data<long>().ToArray());
        Assert.Equal(expected.Select(e => e.Target), cells.Targets.data<float>().ToArray());
        Assert.Equal(expected.Select(e => e.Weight), cells.Weights.data<float>().ToArray());
        Assert.Equal(expected.Select(e => e.Regression), cells.Regression.data<bool>().ToArray());
        Assert.Equal(0, store.Batch([7], tensor(new long[] { 7 })).Count);
    }

    [Fact]
    public void Twenty_thousand_tasks_at_low_density_load_and_train_without_a_dense_matrix()
    {
        // 60,000 × 20,000 = 1.2 G cells: 4.8 GB dense as float32, 1.2 M labelled cells here
        var spec = MtnnMessageSerializerTests.SampleSpec() with
        {
            Dataset = new DatasetSpec(["synthetic:60000,20000,0.001,3"], "smiles", null, null, null),
            Featurizer = new FeaturizerSpec(2, 1024, false),
            Split = new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
            Model = new ModelSpec([32], 0),
            Optimizer = new OptimizerSpec(1e-2, 0, 512, false),
        };
        var memoryBefore = GC.GetTotalMemory(true);
        var data = PreparedDataset.Prepare(spec);
        Assert.InRange(data.Labels.Count, 1_100_000, 1_300_000);
        Assert.InRange(GC.GetTotalMemory(false) - memoryBefore, 0, 600_000_000);

        using var trainer = new ShardTrainer(data, spec, Shards.OwningAll(data.TaskCount), Shards.Alone(), CPU);
        Assert.Contains("packed bits", trainer.Residency);
        var watch = Stopwatch.StartNew();
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        var first = trainer.HeadEpoch(1, steps);
        var second = trainer.HeadEpoch(2, steps);
        Assert.Equal(trainer.TrainLabels, first.Labels);
        Assert.True(second.LossSum / second.Labels < first.LossSum / first.Labels, "head training lowers the loss");
        var scores = trainer.Evaluate([Split.Valid]);
        Assert.Equal(data.TaskCount, scores.Length);
        Assert.Equal(data.Labels.CountPerTask(data.Split.Valid).Sum(), scores.Sum(s => (long)s.Labelled));
        Assert.True(watch.Elapsed < TimeSpan.FromMinutes(2), $"two head epochs and a scoring pass took {watch.Elapsed}");
    }
}
