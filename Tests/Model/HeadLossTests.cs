using MtnnCluster.Model;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

/// <summary>The host passes of a head step's loss give autograd's loss and gradients.</summary>
public sealed class HeadLossTests
{
    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        var worst = expected.sub(actual).abs().max().item<float>();
        Assert.True(worst <= 1e-5f, $"{what}: largest difference {worst}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Host_passes_give_the_loss_and_gradients_autograd_gives(bool headGradients)
    {
        // 3,000 tasks, 40 rows, 0.5% labelled: the per-cell path; a fifth of the tasks regression, weights not 1
        const int rows = 40, tasks = 3000, hidden = 37;
        var random = new Random(11);
        var dense = Enumerable.Range(0, rows * tasks).Select(_ => random.NextDouble() < 0.005 ? (float)random.Next(2) : float.NaN).ToArray();
        var regression = Enumerable.Range(0, tasks).Select(t => t % 5 == 0).ToArray();
        var weights = Enumerable.Range(0, tasks).Select(t => 0.5f + t % 3).ToArray();
        for (var i = 0; i < dense.Length; i++) if (regression[i % tasks] && !float.IsNaN(dense[i])) dense[i] = (float)random.NextDouble() * 4 - 2;
        using var labels = DeviceLabels.FromDense(dense, tasks, regression, weights, CPU);
        using var heads = new HeadBlock(hidden, Enumerable.Range(0, tasks).ToArray(), 3, CPU);
        using var scope = NewDisposeScope();
        var positions = Enumerable.Range(0, rows).Select(i => (long)i).ToArray();
        var cells = labels.Batch(positions, tensor(positions));
        Assert.True(HeadBlock.PerCellPath(cells.Count, rows, tasks));
        var embeddings = randn([rows, hidden], generator: new Generator(5));
        const double scale = 1.0 / 123;

        var autogradSlice = heads.Slice(cells, trainable: headGradients);
        var inputs = embeddings.detach().requires_grad_(true);
        var expectedLoss = MaskedLoss.PerCell(HeadBlock.Logits(inputs, autogradSlice), cells);
        expectedLoss.sum().mul(scale).backward();

        var hostSlice = heads.Slice(cells, trainable: headGradients);
        var host = HeadLoss.TryOnHost(embeddings, hostSlice, scale, headGradients, hiddenGradient: true);
        Assert.NotNull(host);
        AssertClose(expectedLoss.detach(), host!.PerCell, "loss");
        AssertClose(inputs.grad!, host.HiddenGradient!, "embedding gradient");
        if (headGradients)
        {
            AssertClose(autogradSlice.Rows.grad!, hostSlice.Rows.grad!, "head gradient");
            AssertClose(autogradSlice.Bias.grad!, hostSlice.Bias.grad!, "bias gradient");
        }
        else Assert.Null(hostSlice.Rows.grad);
    }

    [Fact]
    public void A_slice_holds_the_heads_its_cells_name_once_each_in_order()
    {
        var random = new Random(2);
        var dense = Enumerable.Range(0, 30 * 500).Select(_ => random.NextDouble() < 0.01 ? 1f : float.NaN).ToArray();
        using var labels = DeviceLabels.FromDense(dense, 500, new bool[500], Enumerable.Repeat(1f, 500).ToArray(), CPU);
        using var heads = new HeadBlock(7, Enumerable.Range(0, 500).ToArray(), 3, CPU);
        using var scope = NewDisposeScope();
        var positions = Enumerable.Range(0, 30).Select(i => (long)i).ToArray();
        var cells = labels.Batch(positions, tensor(positions));
        var slice = heads.Slice(cells, trainable: true);
        var original = cells.Columns.data<long>().ToArray();
        var columns = slice.Columns.data<long>().ToArray();
        Assert.Equal(original.Distinct().Order(), columns);
        var inverse = slice.Cells.Columns.data<long>().ToArray();
        Assert.Equal(original, inverse.Select(k => columns[k]));
        Assert.Equal(heads.Rows.index_select(0, slice.Columns).data<float>().ToArray(), slice.Rows.data<float>().ToArray());
        Assert.Equal(heads.Bias.index_select(0, slice.Columns).data<float>().ToArray(), slice.Bias.data<float>().ToArray());
        Assert.True(slice.Rows.requires_grad && slice.Rows.is_leaf);
    }

    [Fact]
    public void Dense_cells_are_left_to_the_matrix_product()
    {
        using var labels = DeviceLabels.FromDense(Enumerable.Repeat(1f, 8 * 4).ToArray(), 4, new bool[4], Enumerable.Repeat(1f, 4).ToArray(), CPU);
        using var heads = new HeadBlock(5, [0, 1, 2, 3], 3, CPU);
        using var scope = NewDisposeScope();
        var positions = Enumerable.Range(0, 8).Select(i => (long)i).ToArray();
        var cells = labels.Batch(positions, tensor(positions));
        Assert.Null(HeadLoss.TryOnHost(zeros([8, 5]), heads.Slice(cells, trainable: true), 1, true, true));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void The_step_in_place_gives_the_sliced_step_and_leaves_unlabelled_heads_alone(int threads)
    {
        // 3,000 tasks (three blocks of heads), 40 rows, 0.5% labelled, two steps on different batches
        const int rows = 40, tasks = 3000, hidden = 37;
        var random = new Random(17);
        var dense = Enumerable.Range(0, 2 * rows * tasks).Select(_ => random.NextDouble() < 0.005 ? (float)random.Next(2) : float.NaN).ToArray();
        using var labels = DeviceLabels.FromDense(dense, tasks, new bool[tasks], Enumerable.Repeat(1f, tasks).ToArray(), CPU);
        using var sliced = new HeadBlock(hidden, Enumerable.Range(0, tasks).ToArray(), 3, CPU);
        using var inPlace = sliced.Clone();
        using var slicedOptimizer = new HeadAdamW(sliced, 1e-2, 1e-2);
        using var inPlaceOptimizer = new HeadAdamW(inPlace, 1e-2, 1e-2);
        var before = inPlace.Rows.detach().clone();
        var touched = new bool[tasks];
        var previous = get_num_threads();
        set_num_threads(threads);
        try
        {
            for (var step = 0; step < 2; step++)
            {
                using var scope = NewDisposeScope();
                var positions = Enumerable.Range(step * rows, rows).Select(i => (long)i).ToArray();
                var cells = labels.Batch(positions, tensor(positions));
                foreach (var c in cells.Columns.data<long>().ToArray()) touched[c] = true;
                var embeddings = randn([rows, hidden], generator: new Generator((ulong)(5 + step)));
                const double scale = 1.0 / 77;

                var slice = sliced.Slice(cells, trainable: true);
                var expected = HeadLoss.TryOnHost(embeddings, slice, scale, headGradients: true, hiddenGradient: true)!;
                slicedOptimizer.Step(slice);
                var actual = HeadLoss.TryStepOnHost(embeddings, inPlace, cells, scale, inPlaceOptimizer, hiddenGradient: true);

                Assert.NotNull(actual);
                AssertClose(expected.PerCell, actual!.PerCell, "loss");
                AssertClose(expected.HiddenGradient!, actual.HiddenGradient!, "embedding gradient (from the heads before the step)");
                AssertClose(sliced.Rows, inPlace.Rows, "heads after the step");
                AssertClose(sliced.Bias, inPlace.Bias, "biases after the step");
            }
        }
        finally
        {
            set_num_threads(previous);
        }
        Assert.Equal(slicedOptimizer.HeadSteps(), inPlaceOptimizer.HeadSteps());
        Assert.Contains(false, touched);
        for (var c = 0; c < tasks; c++)
            if (!touched[c]) Assert.Equal(before[c].data<float>().ToArray(), inPlace.Rows[c].data<float>().ToArray());
            else Assert.NotEqual(before[c].data<float>().ToArray(), inPlace.Rows[c].data<float>().ToArray());
    }

    [Fact]
    public void The_loss_alone_leaves_the_heads_as_they_are()
    {
        const int rows = 40, tasks = 3000, hidden = 11;
        var random = new Random(3);
        var dense = Enumerable.Range(0, rows * tasks).Select(_ => random.NextDouble() < 0.005 ? (float)random.Next(2) : float.NaN).ToArray();
        using var labels = DeviceLabels.FromDense(dense, tasks, new bool[tasks], Enumerable.Repeat(1f, tasks).ToArray(), CPU);
        using var heads = new HeadBlock(hidden, Enumerable.Range(0, tasks).ToArray(), 3, CPU);
        using var scope = NewDisposeScope();
        var before = heads.Rows.detach().clone();
        var positions = Enumerable.Range(0, rows).Select(i => (long)i).ToArray();
        var cells = labels.Batch(positions, tensor(positions));
        var embeddings = randn([rows, hidden], generator: new Generator(1));
        var expected = HeadLoss.TryOnHost(embeddings, heads.Slice(cells, trainable: false), 0.5, headGradients: false, hiddenGradient: true)!;
        var actual = HeadLoss.TryStepOnHost(embeddings, heads, cells, 0.5, optimizer: null, hiddenGradient: true)!;
        AssertClose(expected.PerCell, actual.PerCell, "loss");
        AssertClose(expected.HiddenGradient!, actual.HiddenGradient!, "embedding gradient");
        Assert.Equal(before.data<float>().ToArray(), heads.Rows.data<float>().ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_batch_copied_out_on_the_host_equals_the_tensor_op_form(bool taskWeights)
    {
        // 50 rows × 30 tasks, a fifth labelled, some rows empty, a third of the tasks regression, positives boosted
        const int rows = 50, tasks = 30;
        var random = new Random(23);
        var regression = Enumerable.Range(0, tasks).Select(t => t % 3 == 0).ToArray();
        var dense = Enumerable.Range(0, rows * tasks).Select(i => i / tasks % 7 == 3 || random.NextDouble() > 0.2 ? float.NaN
            : regression[i % tasks] ? (float)random.NextDouble() : random.Next(2)).ToArray();
        var rowStart = new long[rows + 1];
        var (columns, targets) = (new List<int>(), new List<float>());
        for (var r = 0; r < rows; r++)
        {
            for (var t = 0; t < tasks; t++) if (!float.IsNaN(dense[r * tasks + t])) { columns.Add(t); targets.Add(dense[r * tasks + t]); }
            rowStart[r + 1] = columns.Count;
        }
        var positive = Enumerable.Range(0, tasks).Select(t => 1f + t % 4).ToArray();
        var weights = taskWeights ? Enumerable.Range(0, tasks).Select(t => 0.25f * (t % 5)).ToArray() : null;
        using var labels = new DeviceLabels(rowStart, [.. columns], [.. targets], regression, positive, CPU, weights);
        using var scope = NewDisposeScope();
        long[] batch = [4, 3, 10, 4, 49, 0, 17]; // row 3 and 10 have no labels; row 4 twice
        var host = labels.Batch(batch, tensor(batch));
        var ops = labels.BatchWithTensorOps(batch, tensor(batch));
        Assert.Equal(ops.Count, host.Count);
        Assert.True(host.Count > 0);
        Assert.Equal(ops.Rows.data<long>().ToArray(), host.Rows.data<long>().ToArray());
        Assert.Equal(ops.Columns.data<long>().ToArray(), host.Columns.data<long>().ToArray());
        Assert.Equal(ops.Targets.data<float>().ToArray(), host.Targets.data<float>().ToArray());
        Assert.Equal(ops.Weights.data<float>().ToArray(), host.Weights.data<float>().ToArray());
        Assert.Equal(ops.Regression.data<bool>().ToArray(), host.Regression.data<bool>().ToArray());
        Assert.Equal(0, labels.Batch([3, 10], tensor(new long[] { 3, 10 })).Count);
    }
}
