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
}
