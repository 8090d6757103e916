using MtnnCluster.Model;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

/// <summary>A head-only epoch trained head by head gives the heads its steps taken in turn give.</summary>
public sealed class HeadEpochTests
{
    private const int Rows = 90, Tasks = 700, Hidden = 37;

    /// <summary>
    /// Labels of 700 tasks (the first 50 regression, a positive boost and a weight per task), about 1% of cells; the
    /// first ten rows have none, so the first step has no cells.
    /// </summary>
    private static DeviceLabels Labels(int seed)
    {
        var random = new Random(seed);
        var (rowStart, columns, targets) = (new long[Rows + 1], new List<int>(), new List<float>());
        for (var r = 0; r < Rows; r++)
        {
            for (var t = 0; t < Tasks && r >= 10; t++)
                if (random.NextDouble() < 0.01)
                {
                    columns.Add(t);
                    targets.Add(t < 50 ? (float)(random.NextDouble() * 2 - 1) : random.Next(2));
                }
            rowStart[r + 1] = columns.Count;
        }
        var regression = Enumerable.Range(0, Tasks).Select(t => t < 50).ToArray();
        var boost = Enumerable.Range(0, Tasks).Select(t => t < 50 ? 0f : 2f + t % 3).ToArray();
        var weights = Enumerable.Range(0, Tasks).Select(t => 0.5f + t % 4 * 0.25f).ToArray();
        return new DeviceLabels(rowStart, [.. columns], [.. targets], regression, boost, CPU, weights);
    }

    /// <summary>Nine steps of ten rows in a shuffled order; each row reads the embedding at a row of its own (not its position).</summary>
    private static HeadEpochCells.StepRows[] Steps(DeviceLabels labels)
    {
        var order = Enumerable.Range(10, Rows - 10).OrderBy(r => (r * 37) % 83).Prepend(0).ToList();
        order.InsertRange(1, Enumerable.Range(1, 9)); // the ten unlabelled rows first: a step without cells
        var embeddingRow = Enumerable.Range(0, Rows).Select(r => (r * 7 + 3) % Rows).ToArray();
        var cells = labels.All().Rows.data<long>().ToArray().GroupBy(r => r).ToDictionary(g => g.Key, g => (long)g.Count());
        return order.Chunk(10).Select(batch => new HeadEpochCells.StepRows(batch.Select(r => (long)r).ToArray(),
            batch.Select(r => embeddingRow[r]).ToArray(), 3 + batch.Sum(r => cells.GetValueOrDefault(r)))).ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 3)] // in windows of steps, one after another
    public void Head_by_head_the_epoch_gives_the_heads_of_its_steps_in_turn_to_the_bit(int threads, int windows)
    {
        using var labels = Labels(3);
        var steps = Steps(labels);
        using var embeddings = randn([Rows, Hidden], generator: new Generator(8));
        using var inTurn = new HeadBlock(Hidden, Enumerable.Range(0, Tasks).ToArray(), 5, CPU);
        using var headByHead = inTurn.Clone();
        using var inTurnOptimizer = new HeadAdamW(inTurn, 1e-2, 1e-2);
        using var headByHeadOptimizer = new HeadAdamW(headByHead, 1e-2, 1e-2);
        var before = inTurn.Rows.detach().clone();
        var (expectedLoss, expectedCells) = (new double[Tasks], new long[Tasks]);
        var previous = get_num_threads();
        set_num_threads(threads);
        try
        {
            foreach (var step in steps)
            {
                using var scope = NewDisposeScope();
                var cells = labels.Batch(step.Positions, tensor(step.Positions));
                if (cells.Count == 0) continue;
                var inputs = embeddings.index_select(0, tensor(step.EmbeddingRows).to(ScalarType.Int64));
                var result = HeadLoss.TryStepOnHost(inputs, inTurn, cells, step.Scale, inTurnOptimizer, hiddenGradient: false);
                Assert.NotNull(result);
                var (perCell, columns) = (result!.PerCell.data<float>().ToArray(), cells.Columns.data<long>().ToArray());
                for (var i = 0; i < perCell.Length; i++) (expectedLoss[columns[i]], expectedCells[columns[i]]) = (expectedLoss[columns[i]] + perCell[i], expectedCells[columns[i]] + 1);
            }
            var (loss, counted) = (new double[Tasks], new long[Tasks]);
            var cut = HeadEpochCells.Windows(steps, steps.Sum(s => s.BatchCells) / windows).ToArray();
            Assert.True(cut.Length >= windows, $"{cut.Length} windows");
            Assert.Equal(Enumerable.Range(0, steps.Length), cut.SelectMany(w => Enumerable.Range(w.From, w.To - w.From)));
            foreach (var (from, to) in cut)
            {
                var epochCells = labels.EpochCellsOnHost(steps[from..to]);
                Assert.NotNull(epochCells);
                if (from == 0) Assert.Equal(to - from - 1, epochCells!.Steps); // the step without cells is left out
                var trained = HeadLoss.TryEpochOnHost(embeddings, headByHead, epochCells!, headByHeadOptimizer);
                Assert.NotNull(trained);
                for (var t = 0; t < Tasks; t++) (loss[t], counted[t]) = (loss[t] + trained!.Value.Loss[t], counted[t] + trained.Value.Cells[t]);
            }
            Assert.Equal(expectedCells, counted);
            for (var t = 0; t < Tasks; t++) Assert.True(Math.Abs(expectedLoss[t] - loss[t]) <= 1e-4 * (1 + Math.Abs(expectedLoss[t])), $"task {t}: loss {loss[t]} against {expectedLoss[t]}");
        }
        finally
        {
            set_num_threads(previous);
        }
        Assert.Equal(inTurn.Rows.data<float>().ToArray(), headByHead.Rows.data<float>().ToArray());
        Assert.Equal(inTurn.Bias.data<float>().ToArray(), headByHead.Bias.data<float>().ToArray());
        Assert.Equal(inTurnOptimizer.HeadSteps(), headByHeadOptimizer.HeadSteps());
        var (m1, m2) = (inTurnOptimizer.ExportMoments(), headByHeadOptimizer.ExportMoments());
        for (var i = 0; i < m1.Length; i++) Assert.Equal(m1[i].Bytes, m2[i].Bytes);
        // heads without a label in the epoch are as they were; some are
        Assert.Contains(0L, expectedCells);
        for (var t = 0; t < Tasks; t++)
            if (expectedCells[t] == 0) Assert.Equal(before[t].data<float>().ToArray(), headByHead.Rows[t].data<float>().ToArray());
    }

    [Fact]
    public void An_epoch_with_a_step_of_dense_cells_is_left_to_the_step_loop()
    {
        // 4 tasks, every cell labelled: a step's cells are too many for the per-cell pass
        var dense = Enumerable.Range(0, 8 * 4).Select(i => (float)(i % 2)).ToArray();
        using var labels = DeviceLabels.FromDense(dense, 4, new bool[4], Enumerable.Repeat(1f, 4).ToArray(), CPU);
        using var heads = new HeadBlock(Hidden, [0, 1, 2, 3], 5, CPU);
        using var optimizer = new HeadAdamW(heads, 1e-2, 0);
        using var embeddings = randn([8, Hidden], generator: new Generator(2));
        var before = heads.Rows.detach().clone();
        var cells = labels.EpochCellsOnHost([new HeadEpochCells.StepRows([0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7], 32)])!;
        Assert.False(cells.EveryStepPerCell(4));
        Assert.Null(HeadLoss.TryEpochOnHost(embeddings, heads, cells, optimizer));
        Assert.Equal(before.data<float>().ToArray(), heads.Rows.data<float>().ToArray());
        Assert.All(optimizer.HeadSteps(), s => Assert.Equal(0, s));
    }
}
