using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The heads of one worker's tasks as a single [hidden × tasks] matrix and a bias per task, so that all of them
/// run in one matrix product. Column j belongs to <see cref="TaskIndices"/>[j].
/// </summary>
public sealed class HeadBlock : IDisposable
{
    public int[] TaskIndices { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public IReadOnlyList<Tensor> Parameters => [Weight, Bias];

    /// <summary>
    /// Each task's column is drawn from a generator seeded by (run seed, task index), so a head starts the same
    /// whichever worker owns it and however many workers share the tasks.
    /// </summary>
    public HeadBlock(int hidden, int[] taskIndices, long seed, Device device)
    {
        TaskIndices = taskIndices;
        var columns = new List<Tensor>();
        var biases = new List<Tensor>();
        foreach (var task in taskIndices)
        {
            using var generator = new Generator(checked((ulong)SeededInit.Mix(seed, 0x4EAD, task)));
            columns.Add(SeededInit.Uniform([hidden, 1], hidden, generator, CPU));
            biases.Add(SeededInit.Uniform([1], hidden, generator, CPU));
        }
        using (no_grad())
        {
            Weight = cat(columns, 1).to(device).detach().requires_grad_(true);
            Bias = cat(biases, 0).to(device).detach().requires_grad_(true);
        }
        foreach (var t in columns.Concat(biases)) t.Dispose();
    }

    public HeadBlock(int[] taskIndices, Tensor weight, Tensor bias)
    {
        TaskIndices = taskIndices;
        Weight = weight.detach().requires_grad_(true);
        Bias = bias.detach().requires_grad_(true);
    }

    public Tensor Forward(Tensor hidden) => hidden.matmul(Weight).add(Bias, Scalars.One);

    /// <summary>
    /// The outputs at the labelled cells only. Where few cells of the [rows × tasks] block are labelled (thousands
    /// of tasks), each is a dot product of its row's hidden vector with its task's column, far less work and memory
    /// than the whole block; where most are, the block's matrix product is cheaper and the cells are read from it.
    /// </summary>
    public Tensor Logits(Tensor hidden, LabelCells cells) => Logits(hidden, Weight, Bias, cells);

    private static Tensor Logits(Tensor hidden, Tensor weight, Tensor bias, LabelCells cells)
    {
        var block = hidden.shape[0] * weight.shape[1];
        if (cells.Count * DenseBelowOneIn >= block)
            return hidden.matmul(weight).add(bias, Scalars.One).reshape(-1).index_select(0, cells.Rows.mul(weight.shape[1]).add(cells.Columns));
        // [cells × 1 × hidden] · [cells × hidden × 1]: one small dot product per cell, as a batched product
        var rows = hidden.index_select(0, cells.Rows).unsqueeze(1);
        var columns = weight.t().index_select(0, cells.Columns).unsqueeze(2);
        return rows.bmm(columns).view(-1).add(bias.index_select(0, cells.Columns), Scalars.One);
    }

    /// <summary>
    /// The heads of the tasks <paramref name="cells"/> are labelled in, copied out as leaf tensors of their own
    /// (with gradients when <paramref name="trainable"/>), so that a step's backward pass and optimizer update
    /// touch those columns only. Call inside a dispose scope.
    /// </summary>
    public HeadSlice Slice(LabelCells cells, bool trainable)
    {
        var (columns, inverse, _) = cells.Columns.unique(sorted: true, return_inverse: true);
        var weight = Weight.index_select(1, columns).detach().requires_grad_(trainable);
        var bias = Bias.index_select(0, columns).detach().requires_grad_(trainable);
        return new HeadSlice(columns, weight, bias, cells with { Columns = inverse! });
    }

    /// <summary>The outputs at the labelled cells of a slice, in the order of its cells.</summary>
    public static Tensor Logits(Tensor hidden, HeadSlice slice) => Logits(hidden, slice.Weight, slice.Bias, slice.Cells);

    /// <summary>Label density below 1 in this many cells takes the per-cell path of <see cref="Logits"/>.</summary>
    private const int DenseBelowOneIn = 8;

    public (TensorData Weight, TensorData Bias) Export() =>
        (TensorCodec.Encode("heads.weight", Weight), TensorCodec.Encode("heads.bias", Bias));

    public void CopyFrom(HeadBlock other)
    {
        using var _ = no_grad();
        Weight.copy_(other.Weight);
        Bias.copy_(other.Bias);
    }

    public HeadBlock Clone()
    {
        using var _ = no_grad();
        return new HeadBlock(TaskIndices, Weight.clone(), Bias.clone());
    }

    public void Dispose()
    {
        Weight.Dispose();
        Bias.Dispose();
    }
}

/// <summary>
/// Some columns of a <see cref="HeadBlock"/>: <see cref="Columns"/> (ascending, on the device), their weight
/// [hidden × columns] and bias, and a batch's cells with columns numbered within the slice.
/// </summary>
public sealed record HeadSlice(Tensor Columns, Tensor Weight, Tensor Bias, LabelCells Cells);
