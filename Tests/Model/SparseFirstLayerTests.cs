using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

public sealed class SparseFirstLayerTests
{
    private const int Bits = 2048;

    /// <summary>Fingerprint-like rows: about <paramref name="setPerRow"/> distinct features each, the first row empty.</summary>
    private static SparseFeatures[] Rows(int count, int setPerRow, bool counts, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(r =>
        {
            var indices = r == 0 ? [] : Enumerable.Range(0, setPerRow).Select(_ => random.Next(Bits)).Distinct().Order().ToArray();
            return new SparseFeatures(indices, indices.Select(_ => counts ? (float)random.Next(1, 6) : 1f).ToArray());
        }).ToArray();
    }

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var worst = expected.sub(actual).abs().max().item<float>();
        Assert.True(worst <= 1e-5f, $"largest difference {worst}");
    }

    [Theory]
    [InlineData(false)] // packed bits
    [InlineData(true)]  // counts, stored as bytes
    public void Sparse_first_layer_matches_the_dense_product(bool counts)
    {
        var rows = Rows(300, 40, counts, 7);
        using var features = DeviceFeatures.Create(rows, Enumerable.Range(0, rows.Length).ToArray(), Bits, CPU);
        Assert.Equal(counts ? "sparse uint8 codes" : "packed bits", features.Layout);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var generator = new Generator(3);
        var weight = randn([Bits, 500], generator: generator).mul(0.05).requires_grad_();
        var bias = randn([500], generator: generator);
        var input = features.Slice(0, rows.Length);
        using var layer = new SparseFirstLayer(weight, bias);
        var sparse = SparseFirstLayer.NonZeroRowsOf(input) is { } nonZero ? layer.Apply(nonZero) : null;
        Assert.NotNull(sparse);
        AssertClose(input.matmul(weight).add(bias), sparse!);
        AssertClose(bias.unsqueeze(0), sparse!.narrow(0, 0, 1)); // a row without features is the bias
        Assert.True(weight.requires_grad); // the trunk's parameter still trains afterwards
    }

    [Fact]
    public void Dense_input_is_left_to_the_dense_product()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = rand([8, 64], generator: new Generator(1)).add(0.1); // every feature non-zero
        Assert.Null(SparseFirstLayer.NonZeroRowsOf(input));
    }

    [Theory]
    [InlineData(false)] // packed bits: set features read from the bytes
    [InlineData(true)]  // counts stored as bytes
    public void Non_zero_features_read_from_the_stored_rows_are_those_of_the_rows(bool counts)
    {
        var rows = Rows(50, 40, counts, 13);
        using var features = DeviceFeatures.Create(rows, Enumerable.Range(0, rows.Length).ToArray(), Bits, CPU);
        var sparse = features.NonZeroSlice(10, 30)!;
        var (indices, offsets) = (sparse.Indices.data<long>().ToArray(), sparse.Offsets.data<long>().ToArray());
        var values = sparse.Values?.data<float>().ToArray();
        Assert.Equal(counts, values is not null);
        for (var r = 0; r < 30; r++)
        {
            var end = r + 1 < 30 ? offsets[r + 1] : indices.Length;
            var expected = rows[10 + r];
            Assert.Equal(expected.Indices.Select(i => (long)i), indices[(int)offsets[r]..(int)end]);
            if (values is not null) Assert.Equal(expected.Values, values[(int)offsets[r]..(int)end]);
        }
        Assert.Equal(rows.Skip(10).Take(30).Sum(x => x.Indices.Length), indices.Length);
    }

    [Fact]
    public void A_row_s_embedding_does_not_depend_on_the_other_rows_stored_with_it()
    {
        // the even rows' values fit one-byte codes; with the odd rows' there are more than 255 distinct values, kept as float32
        var rows = Rows(600, 40, counts: false, 31).Select((r, i) => new SparseFeatures(r.Indices,
            r.Values.Select((_, k) => i % 2 == 0 ? 1f + k % 50 / 7f : 1.001f + (i * 41 + k) % 997 / 100f).ToArray())).ToArray();
        var half = Enumerable.Range(0, 600).Where(i => i % 2 == 0).ToArray();
        using var all = DeviceFeatures.Create(rows, Enumerable.Range(0, 600).ToArray(), Bits, CPU);
        using var some = DeviceFeatures.Create(rows, half, Bits, CPU);
        Assert.Equal("float32", all.Layout);
        Assert.Equal("sparse uint8 codes", some.Layout);
        using var trunk = new FingerprintTrunk(Bits, [150, 30], 5, CPU);
        using var everyRow = trunk.Embed(all);
        using var everyOther = trunk.Embed(some);
        using var scope = NewDisposeScope();
        Assert.Equal(everyRow.index_select(0, tensor(half.Select(i => (long)i).ToArray())).data<float>().ToArray(), everyOther.data<float>().ToArray());
    }

    [Fact]
    public void Set_bits_are_found_past_the_last_whole_eight_bytes_of_a_row()
    {
        const int size = 100; // 13 bytes a row: one 8-byte word, then 5 bytes one at a time
        var rows = new[] { new[] { 0, 7, 8, 63, 64, 65, 99 }, new int[0], new[] { 1, 70, 98 } }
            .Select(i => new SparseFeatures(i, i.Select(_ => 1f).ToArray())).ToArray();
        using var features = DeviceFeatures.Create(rows, [2, 0, 1], size, CPU);
        Assert.Equal("packed bits", features.Layout);
        var sparse = features.NonZeroSlice(0, 3)!;
        Assert.Equal(new long[] { 1, 70, 98, 0, 7, 8, 63, 64, 65, 99 }, sparse.Indices.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 3, 10 }, sparse.Offsets.data<long>().ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Evaluation_embeddings_match_the_dense_forward(bool counts)
    {
        var rows = Rows(Inference.ChunkRows + 100, 40, counts, 11); // two chunks
        using var features = DeviceFeatures.Create(rows, Enumerable.Range(0, rows.Length).ToArray(), Bits, CPU);
        using var trunk = new FingerprintTrunk(Bits, [300, 50], 5, CPU);
        using var embeddings = trunk.Embed(features);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        AssertClose(trunk.Forward(features.Slice(0, rows.Length)), embeddings);
    }

    [Theory]
    [InlineData(false, 0.0)]
    [InlineData(true, 0.0)]
    [InlineData(false, 0.3)] // input dropout: the dense input times the mask against the entries' values times it
    [InlineData(true, 0.3)]
    public void A_training_step_through_the_sparse_first_layer_gives_the_dense_gradients(bool counts, double inputDropout)
    {
        var rows = Rows(97, 40, counts, 17);
        using var features = DeviceFeatures.Create(rows, Enumerable.Range(0, rows.Length).ToArray(), Bits, CPU);
        using var trunk = new FingerprintTrunk(Bits, [300, 50], 5, CPU);
        long[] batch = [5, 90, 0, 41, 41, 7, 63]; // shuffled, one row twice, the empty row
        using var scope = NewDisposeScope();
        var generator = new Generator(9);
        var inputMask = Dropout.Masks(inputDropout, generator, CPU, batch.Length, [Bits])?[0];
        var masks = Dropout.Masks(0.25, generator, CPU, batch.Length, trunk.Layers);
        using var upstream = randn([batch.Length, 50], generator: new Generator(4));
        if (inputMask is not null)
        {
            Assert.Contains(0f, inputMask.data<float>().ToArray());
            var sparseRows = features.NonZeroRows(batch)!;
            var masked = sparseRows.Masked(inputMask);
            Assert.Contains(0f, masked.Values!.data<float>().ToArray()); // some set features dropped
            if (!counts) // a set bit is dropped (0) or kept and scaled
                Assert.All(masked.Values!.data<float>().ToArray(), v => Assert.True(v == 0 || Math.Abs(v - 1 / (1 - inputDropout)) < 1e-6, $"value {v}"));
        }
        Tensor Dense() => inputMask is null ? features.Rows(tensor(batch)) : features.Rows(tensor(batch)).mul(inputMask);
        SparseRows Sparse() => inputMask is null ? features.NonZeroRows(batch)! : features.NonZeroRows(batch)!.Masked(inputMask);

        Tensor[] Gradients(Func<Tensor> forward)
        {
            foreach (var p in trunk.Parameters) p.grad = null;
            forward().backward([upstream]);
            return trunk.Parameters.Select(p => p.grad!.clone()).ToArray();
        }
        var dense = Gradients(() => trunk.Forward(Dense(), masks));
        var sparse = Gradients(() => trunk.Forward(Sparse(), masks));
        for (var i = 0; i < dense.Length; i++) AssertClose(dense[i], sparse[i]);
        using var _ = no_grad();
        AssertClose(trunk.Forward(Dense(), masks), trunk.Forward(Sparse(), masks));
        Assert.All(trunk.Parameters, p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Evaluate_refuses_to_run_under_autograd()
    {
        using var trunk = new FingerprintTrunk(16, [4], 5, CPU);
        using var input = zeros([2, 16]);
        Assert.Throws<InvalidOperationException>(() => trunk.Evaluate(input));
    }
}
