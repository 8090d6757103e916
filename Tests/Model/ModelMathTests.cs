using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

public sealed class ModelMathTests
{
    /// <summary>A dense matrix (NaN: missing) through the sparse device store, as workers batch their labels.</summary>
    private static LabelCells Labels(float[,] values, float[]? regression = null, float[]? positiveWeights = null)
    {
        var tasks = values.GetLength(1);
        using var store = DeviceLabels.FromDense(values.Cast<float>().ToArray(), tasks, (regression ?? new float[tasks]).Select(x => x == 1).ToArray(),
            positiveWeights ?? Enumerable.Repeat(1f, tasks).ToArray(), CPU);
        return store.All();
    }

    /// <summary>The outputs [rows × tasks] at the labelled cells.</summary>
    private static Tensor AtCells(Tensor outputs, LabelCells cells) =>
        outputs.reshape(-1).index_select(0, cells.Rows.mul(outputs.shape[1]).add(cells.Columns));

    [Theory]
    [InlineData(0.02)] // few labels: a dot product per cell
    [InlineData(0.9)]  // most labelled: the block's matrix product
    public void Head_logits_at_labelled_cells_match_the_full_head_outputs(double density)
    {
        var random = new Random(4);
        var values = new float[16, 300];
        for (var r = 0; r < 16; r++)
            for (var t = 0; t < 300; t++) values[r, t] = random.NextDouble() < density ? random.Next(2) : float.NaN;
        var cells = Labels(values);
        using var heads = new HeadBlock(12, Enumerable.Range(0, 300).ToArray(), 3, CPU);
        using var generator = new Generator(5);
        using var hidden = randn([16, 12], generator: generator);
        using var logits = heads.Logits(hidden, cells);
        using var full = heads.Forward(hidden);
        var expected = AtCells(full, cells).data<float>().ToArray();
        var actual = logits.data<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5); // an absolute bound: rounding to places flips at .5
    }

    [Fact]
    public void A_missing_label_contributes_nothing_to_the_loss_or_the_gradient()
    {
        using var outputs = tensor(new float[,] { { 0.3f, -1.2f }, { 2.0f, 0.7f } }).requires_grad_(true);
        var withMissing = Labels(new float[,] { { 1, float.NaN }, { 0, 1 } });
        using var loss = MaskedLoss.Sum(AtCells(outputs, withMissing), withMissing);
        loss.backward();
        var expected = Bce(0.3, 1) + Bce(2.0, 0) + Bce(0.7, 1);
        Assert.Equal(expected, loss.item<float>(), 4);
        Assert.Equal(0f, outputs.grad!.data<float>()[1]); // row 0, task 1: missing
    }

    [Fact]
    public void Positive_weighting_scales_only_positive_classification_labels()
    {
        using var outputs = tensor(new float[,] { { 0.3f, 0.5f }, { -0.4f, 0.5f } });
        var labels = Labels(new float[,] { { 1, 0 }, { 0, 1 } }, positiveWeights: [3f, 1f]);
        using var loss = MaskedLoss.Sum(AtCells(outputs, labels), labels);
        Assert.Equal(3 * Bce(0.3, 1) + Bce(-0.4, 0) + Bce(0.5, 0) + Bce(0.5, 1), loss.item<float>(), 4);
    }

    [Fact]
    public void Regression_columns_use_squared_error()
    {
        using var outputs = tensor(new float[,] { { 0.3f, 2.0f }, { 0.1f, -1.0f } });
        var labels = Labels(new float[,] { { 1, 1.5f }, { 0, float.NaN } }, regression: [0f, 1f], positiveWeights: [1f, 5f]);
        using var loss = MaskedLoss.Sum(AtCells(outputs, labels), labels);
        Assert.Equal(Bce(0.3, 1) + Bce(0.1, 0) + 0.25, loss.item<float>(), 4);
    }

    [Fact]
    public void AdamW_first_step_moves_each_weight_by_the_learning_rate_against_its_gradient()
    {
        using var p = tensor(new[] { 1f, -2f, 0.5f }).requires_grad_(true);
        using var g = tensor(new[] { 0.1f, -3f, 0f });
        using var adam = new AdamW([p], learningRate: 0.01, weightDecay: 0.1);
        adam.Step([g]);
        var after = p.data<float>().ToArray();
        // bias-corrected first step: m̂/√v̂ = sign(g); decoupled decay first: p(1 − lr·wd)
        Assert.Equal(1f * 0.999f - 0.01f, after[0], 5);
        Assert.Equal(-2f * 0.999f + 0.01f, after[1], 5);
        Assert.Equal(0.5f * 0.999f, after[2], 5);
    }

    [Fact]
    public void Fused_AdamW_on_host_memory_matches_the_tensor_op_form_over_several_steps()
    {
        // the fused one-pass update (contiguous CPU tensors) against AdamW written as torch ops, 5 steps, odd length
        using var seeded = new TorchSharp.torch.Generator(11);
        using var p = randn(1003, generator: seeded);
        using var reference = p.clone();
        using var m = zeros(1003);
        using var v = zeros(1003);
        using var adam = new AdamW([p], learningRate: 0.01, weightDecay: 0.1);
        for (var step = 1; step <= 5; step++)
        {
            using var g = randn(1003, generator: seeded);
            adam.Step([g]);
            m.mul_(0.9).add_(g, alpha: 0.1);
            v.mul_(0.999).addcmul_(g, g, value: 0.001);
            reference.mul_(1 - 0.01 * 0.1);
            using var denominator = v.div(1 - Math.Pow(0.999, step)).sqrt_().add_(1e-8);
            reference.addcdiv_(m, denominator, value: -0.01 / (1 - Math.Pow(0.9, step)));
        }
        var (fused, expected) = (p.data<float>().ToArray(), reference.data<float>().ToArray());
        for (var i = 0; i < fused.Length; i++) Assert.True(Math.Abs(expected[i] - fused[i]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i])), $"element {i}: {fused[i]} against {expected[i]}");
    }

    [Fact]
    public void AdamW_stepped_in_element_ranges_equals_one_whole_step()
    {
        // a sharded optimizer step (each worker its range of the flat order, ranges crossing tensor boundaries)
        // gives the same bits as the whole step
        Tensor[] Parameters() => [arange(0, 12, 1f).reshape(3, 4), arange(0, 5, 1f).neg()];
        var whole = Parameters();
        var sharded = Parameters();
        var gradients = new[] { 0.5f, -1f, 2f, 0f, 3f, -0.25f, 1f, 1f, -2f, 0.125f, 4f, -3f, 1.5f, 0f, -1f, 2f, 0.75f };
        using (var adam = new AdamW(whole, 0.01, 0.1))
            adam.Step([tensor(gradients[..12], [3, 4]), tensor(gradients[12..])]);
        // two workers' replicas: each steps its own range of the flat order
        var other = Parameters();
        using (var adam = new AdamW(sharded, 0.01, 0.1)) adam.StepElements(0, gradients.AsSpan(0, 7));
        using (var adam = new AdamW(other, 0.01, 0.1)) adam.StepElements(7, gradients.AsSpan(7));
        var combined = new float[17];
        FlatRange.CopyTo(sharded, 0, combined.AsSpan(0, 7));
        FlatRange.CopyTo(other, 7, combined.AsSpan(7));
        var expected = new float[17];
        FlatRange.CopyTo(whole, 0, expected);
        Assert.Equal(expected, combined);
        // and the untouched range is as it started
        var untouched = new float[10];
        FlatRange.CopyTo(sharded, 7, untouched);
        Assert.Equal(new[] { 7f, 8f, 9f, 10f, 11f, 0f, -1f, -2f, -3f, -4f }, untouched);
    }

    [Fact]
    public void Trunk_and_heads_are_reproducible_from_the_seed()
    {
        using var a = new FingerprintTrunk(16, [8, 4], 5, CPU);
        using var b = new FingerprintTrunk(16, [8, 4], 5, CPU);
        using var c = new FingerprintTrunk(16, [8, 4], 6, CPU);
        Assert.Equal(a.Export()[0].Bytes, b.Export()[0].Bytes);
        Assert.NotEqual(a.Export()[0].Bytes, c.Export()[0].Bytes);
        using var all = new HeadBlock(4, [0, 1, 2], 9, CPU);
        using var some = new HeadBlock(4, [2], 9, CPU);
        // a head starts the same whichever worker (block) owns it
        Assert.Equal(all.Rows[2].data<float>().ToArray(), some.Rows[0].data<float>().ToArray());
    }

    [Fact]
    public void Tensors_survive_the_wire_form()
    {
        using var t = randn(3, 5);
        var data = TensorCodec.Encode("x", t);
        using var back = TensorCodec.Decode(data);
        Assert.Equal(t.data<float>().ToArray(), back.data<float>().ToArray());
        using var target = zeros(3, 5);
        TensorCodec.CopyInto(data, target);
        Assert.Equal(t.data<float>().ToArray(), target.data<float>().ToArray());
        Assert.Throws<InvalidDataException>(() => TensorCodec.CopyInto(data with { Bytes = data.Bytes[..^4] }, target));
        Assert.Throws<InvalidDataException>(() => TensorCodec.CopyInto(data with { Shape = [5, 3] }, target));
    }

    [Fact]
    public void Tasks_are_balanced_by_labelled_rows_weighted_by_slots()
    {
        var assignment = TaskAssignment.Balance([100, 10, 10, 10, 90, 5], [new WorkerSlot("a", 1), new WorkerSlot("b", 1)]);
        var load = assignment.ToDictionary(a => a.Key, a => a.Value.Sum(t => new long[] { 100, 10, 10, 10, 90, 5 }[t]));
        Assert.Equal(Enumerable.Range(0, 6), assignment.Values.SelectMany(t => t).Order());
        Assert.True(Math.Abs(load["a"] - load["b"]) <= 10, $"loads {load["a"]} and {load["b"]}");

        var weighted = TaskAssignment.Balance(Enumerable.Repeat(10L, 30).ToArray(), [new WorkerSlot("a", 1), new WorkerSlot("b", 2)]);
        Assert.Equal(10, weighted["a"].Length);
        Assert.Equal(20, weighted["b"].Length);

        var spare = TaskAssignment.Balance([5, 5], [new WorkerSlot("a", 1), new WorkerSlot("b", 1), new WorkerSlot("c", 1)]);
        Assert.Equal(3, spare.Count); // a worker without tasks stays in: it computes the trunk on its share of the rows
        Assert.Single(spare.Values, t => t.Length == 0);
    }

    [Fact]
    public void Alternate_schedule_cycles_head_then_trunk_epochs()
    {
        var spec = Serialization.MtnnMessageSerializerTests.SampleSpec() with { Schedule = new ScheduleSpec(ScheduleKind.Alternate, 10, 1, 2, 0) };
        Assert.Equal([EpochPhase.Heads, EpochPhase.Heads, EpochPhase.Trunk, EpochPhase.Heads, EpochPhase.Heads],
            Enumerable.Range(1, 5).Select(spec.PhaseOf));
        var joint = spec with { Schedule = spec.Schedule with { Kind = ScheduleKind.Joint } };
        Assert.All(Enumerable.Range(1, 5).Select(joint.PhaseOf), p => Assert.Equal(EpochPhase.Joint, p));
    }

    [Theory]
    [InlineData(new int[0], "--layers")]
    [InlineData(new[] { 100, 0 }, "--layers")]
    public void Impossible_layer_sizes_are_refused(int[] layers, string named)
    {
        var spec = Serialization.MtnnMessageSerializerTests.SampleSpec() with { Model = new ModelSpec(layers, 0.1) };
        Assert.Contains(named, Assert.Throws<ArgumentException>(spec.Validate).Message);
    }

    private static float Bce(double logit, double y) => (float)(Math.Log(1 + Math.Exp(-Math.Abs(logit))) + Math.Max(logit, 0) - logit * y);
}
