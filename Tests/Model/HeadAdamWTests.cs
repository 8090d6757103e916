using MtnnCluster.Model;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

/// <summary>The sparse head step (only the heads a batch labels) against the dense AdamW step of every head.</summary>
public sealed class HeadAdamWTests
{
    private const int Rows = 6, Hidden = 5, Tasks = 7;
    private const double Rate = 0.01, Decay = 0.1;

    /// <summary>Labels of <paramref name="labelled"/> tasks only, on every row, 0/1 by a seeded draw.</summary>
    private static LabelCells Labels(int[] labelled)
    {
        var random = new Random(11);
        var values = new float[Rows * Tasks];
        for (var r = 0; r < Rows; r++)
            for (var t = 0; t < Tasks; t++) values[r * Tasks + t] = labelled.Contains(t) ? random.Next(2) : float.NaN;
        using var store = DeviceLabels.FromDense(values, Tasks, new bool[Tasks], Enumerable.Repeat(1f, Tasks).ToArray(), CPU);
        return store.All();
    }

    /// <summary>Two steps on the same batch: the dense path (full head block, <see cref="AdamW"/>) and the sparse one.</summary>
    private static (float[] DenseWeight, float[] DenseBias, float[] SparseWeight, float[] SparseBias, float[] Start, long[] Steps) TwoSteps(int[] labelled)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var hidden = randn([Rows, Hidden], generator: generator);
        var cells = Labels(labelled);
        using var dense = new HeadBlock(Hidden, Enumerable.Range(0, Tasks).ToArray(), 9, CPU);
        using var sparse = dense.Clone();
        var start = dense.Weight.detach().contiguous().data<float>().ToArray();
        using var adam = new AdamW(dense.Parameters, Rate, Decay);
        using var lazy = new HeadAdamW(sparse, Rate, Decay);
        for (var step = 0; step < 2; step++)
        {
            foreach (var p in dense.Parameters) p.grad?.zero_();
            MaskedLoss.Sum(dense.Logits(hidden, cells), cells).backward();
            adam.Step();
            var slice = sparse.Slice(cells, trainable: true);
            MaskedLoss.Sum(HeadBlock.Logits(hidden, slice), cells).backward();
            lazy.Step(slice);
        }
        return (dense.Weight.detach().contiguous().data<float>().ToArray(), dense.Bias.detach().data<float>().ToArray(),
            sparse.Weight.detach().contiguous().data<float>().ToArray(), sparse.Bias.detach().data<float>().ToArray(), start, lazy.HeadSteps());
    }

    [Fact]
    public void Where_every_task_has_a_label_the_sparse_step_is_the_dense_one()
    {
        var (denseWeight, denseBias, sparseWeight, sparseBias, start, steps) = TwoSteps(Enumerable.Range(0, Tasks).ToArray());
        // the same update; per-head bias corrections are computed as tensors rather than scalars, so the last bit may differ
        for (var i = 0; i < denseWeight.Length; i++) Assert.Equal(denseWeight[i], sparseWeight[i], 1e-6f);
        for (var i = 0; i < denseBias.Length; i++) Assert.Equal(denseBias[i], sparseBias[i], 1e-6f);
        Assert.NotEqual(start, sparseWeight);
        Assert.All(steps, s => Assert.Equal(2, s));
    }

    [Fact]
    public void Heads_without_labels_are_left_as_they_were_and_labelled_ones_step_as_in_the_dense_update()
    {
        int[] labelled = [0, 2, 3, 6];
        var (denseWeight, _, sparseWeight, _, start, steps) = TwoSteps(labelled);
        for (var h = 0; h < Hidden; h++)
            for (var t = 0; t < Tasks; t++)
            {
                var i = h * Tasks + t;
                if (labelled.Contains(t)) Assert.Equal(denseWeight[i], sparseWeight[i], 1e-6f);
                else Assert.Equal(start[i], sparseWeight[i]); // bit for bit: no decay, no moment drift
            }
        Assert.Equal([2L, 0, 2, 2, 0, 0, 2], steps);
    }

    [Fact]
    public void A_head_stepped_late_gets_the_bias_correction_of_its_own_first_step()
    {
        // a head whose first labels come after others' steps moves by the learning rate, as Adam's first step does
        using var scope = NewDisposeScope();
        using var heads = new HeadBlock(Hidden, Enumerable.Range(0, Tasks).ToArray(), 9, CPU);
        using var lazy = new HeadAdamW(heads, Rate, weightDecay: 0);
        using var generator = new Generator(4);
        var hidden = randn([Rows, Hidden], generator: generator);
        foreach (var labelled in new[] { new[] { 0 }, [0], [0], new[] { 0, 1 } })
        {
            var before = heads.Bias.detach().clone().data<float>().ToArray();
            var cells = Labels(labelled);
            var slice = heads.Slice(cells, trainable: true);
            MaskedLoss.Sum(HeadBlock.Logits(hidden, slice), cells).backward();
            lazy.Step(slice);
            if (labelled.Length == 2) Assert.Equal(Rate, Math.Abs(heads.Bias.detach().data<float>()[1] - before[1]), 1e-5);
        }
        Assert.Equal([4L, 1, 0, 0, 0, 0, 0], lazy.HeadSteps());
    }
}
