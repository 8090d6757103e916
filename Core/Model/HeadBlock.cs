using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// The heads of one worker's tasks as a single matrix and a bias per task, so that all of them run in one matrix
/// product. Stored a row per task ([tasks × hidden], <see cref="Rows"/>): the heads a batch touches are then whole
/// rows to gather and scatter. <see cref="Weight"/> is the same matrix as [hidden × tasks], the form in which heads
/// travel and are checkpointed. Row j belongs to <see cref="TaskIndices"/>[j].
/// </summary>
public sealed class HeadBlock : IDisposable
{
    public int[] TaskIndices { get; }
    public Tensor Rows { get; }
    /// <summary>A [hidden × tasks] view of <see cref="Rows"/>.</summary>
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public IReadOnlyList<Tensor> Parameters => [Rows, Bias];

    /// <summary>
    /// Each task's head is drawn from a generator seeded by (run seed, task index), so a head starts the same
    /// whichever worker owns it and however many workers share the tasks.
    /// </summary>
    public HeadBlock(int hidden, int[] taskIndices, long seed, Device device)
    {
        TaskIndices = taskIndices;
        var rows = new List<Tensor>();
        var biases = new List<Tensor>();
        foreach (var task in taskIndices)
        {
            using var generator = new Generator(checked((ulong)SeededInit.Mix(seed, 0x4EAD, task)));
            rows.Add(SeededInit.Uniform([1, hidden], hidden, generator, CPU));
            biases.Add(SeededInit.Uniform([1], hidden, generator, CPU));
        }
        using (no_grad())
        {
            Rows = (rows.Count > 0 ? cat(rows, 0) : zeros(0, hidden)).to(device).detach().requires_grad_(true);
            Bias = (biases.Count > 0 ? cat(biases, 0) : zeros(0)).to(device).detach().requires_grad_(true);
        }
        Weight = Rows.t();
        foreach (var t in rows.Concat(biases)) t.Dispose();
    }

    /// <param name="weight">[hidden × tasks], copied.</param>
    public HeadBlock(int[] taskIndices, Tensor weight, Tensor bias)
    {
        TaskIndices = taskIndices;
        using (no_grad()) Rows = weight.detach().t().contiguous().requires_grad_(true);
        Bias = bias.detach().requires_grad_(true);
        Weight = Rows.t();
    }

    public Tensor Forward(Tensor hidden) => hidden.matmul(Weight).add(Bias, Scalars.One);

    /// <summary>
    /// The outputs at the labelled cells only. Where few cells of the [rows × tasks] block are labelled (thousands
    /// of tasks), each is a dot product of its row's hidden vector with its task's head, far less work and memory
    /// than the whole block; where most are, the block's matrix product is cheaper and the cells are read from it.
    /// </summary>
    public Tensor Logits(Tensor hidden, LabelCells cells) => Logits(hidden, Rows, Bias, cells);

    private static Tensor Logits(Tensor hidden, Tensor heads, Tensor bias, LabelCells cells)
    {
        if (!PerCellPath(cells.Count, hidden.shape[0], heads.shape[0]))
            return hidden.matmul(heads.t()).add(bias, Scalars.One).reshape(-1).index_select(0, cells.Rows.mul(heads.shape[0]).add(cells.Columns));
        // one dot product per cell, as an elementwise product summed along the hidden units: a batched matrix
        // product of [cells × 1 × hidden] · [cells × hidden × 1] runs (and backpropagates) as thousands of tiny
        // matrix products, five times slower on a CPU
        var rows = hidden.index_select(0, cells.Rows);
        var columns = heads.index_select(0, cells.Columns);
        return rows.mul(columns).sum(1).add(bias.index_select(0, cells.Columns), Scalars.One);
    }

    /// <summary>
    /// The heads of the tasks <paramref name="cells"/> are labelled in, copied out as leaf tensors of their own
    /// (with gradients when <paramref name="trainable"/>), so that a step's backward pass and optimizer update
    /// touch those heads only. Call inside a dispose scope.
    /// </summary>
    public HeadSlice Slice(LabelCells cells, bool trainable)
    {
        if (SliceOnHost(cells, trainable) is { } host) return host;
        var (columns, inverse, _) = cells.Columns.unique(sorted: true, return_inverse: true);
        var rows = Rows.index_select(0, columns).detach().requires_grad_(trainable);
        var bias = Bias.index_select(0, columns).detach().requires_grad_(trainable);
        return new HeadSlice(columns, rows, bias, cells with { Columns = inverse! });
    }

    /// <summary>
    /// <see cref="Slice"/> on host memory: the heads found by marking them in an array as long as the block, and
    /// their rows copied out one by one (for thousands of heads, a fifth of the tensor ops' time). Null off the host.
    /// </summary>
    private HeadSlice? SliceOnHost(LabelCells cells, bool trainable)
    {
        if (Rows.device_type != DeviceType.CPU || !Rows.is_contiguous() || !Bias.is_contiguous() || cells.Columns.device_type != DeviceType.CPU
            || cells.Columns.dtype != ScalarType.Int64 || !cells.Columns.is_contiguous())
            return null;
        var heads = (int)Rows.shape[0];
        var hidden = (int)Rows.shape[1];
        ReadOnlySpan<long> columns = MemoryMarshal.Cast<byte, long>(cells.Columns.bytes);
        var slot = new int[heads];
        foreach (var c in columns) slot[c] = 1;
        var used = 0;
        for (var c = 0; c < heads; c++) slot[c] = slot[c] == 0 ? -1 : used++;
        var (unique, inverse) = (new long[used], new long[columns.Length]);
        for (var c = 0; c < heads; c++) if (slot[c] >= 0) unique[slot[c]] = c;
        for (var i = 0; i < columns.Length; i++) inverse[i] = slot[columns[i]];
        var rows = empty([used, hidden]);
        var bias = empty([used]);
        ReadOnlySpan<float> allRows = MemoryMarshal.Cast<byte, float>(Rows.bytes), allBias = MemoryMarshal.Cast<byte, float>(Bias.bytes);
        Span<float> sliceRows = MemoryMarshal.Cast<byte, float>(rows.bytes), sliceBias = MemoryMarshal.Cast<byte, float>(bias.bytes);
        for (var k = 0; k < used; k++)
        {
            allRows.Slice((int)unique[k] * hidden, hidden).CopyTo(sliceRows.Slice(k * hidden, hidden));
            sliceBias[k] = allBias[(int)unique[k]];
        }
        return new HeadSlice(tensor(unique), rows.requires_grad_(trainable), bias.requires_grad_(trainable), cells with { Columns = tensor(inverse) });
    }

    /// <summary>The outputs at the labelled cells of a slice, in the order of its cells.</summary>
    public static Tensor Logits(Tensor hidden, HeadSlice slice) => Logits(hidden, slice.Rows, slice.Bias, slice.Cells);

    /// <summary>Label density below 1 in this many cells takes the per-cell path of <see cref="Logits"/>.</summary>
    private const int DenseBelowOneIn = 8;

    /// <summary>Whether <paramref name="cells"/> of a [rows × heads] block are few enough to be computed one by one.</summary>
    public static bool PerCellPath(long cells, long rows, long heads) => cells * DenseBelowOneIn < rows * heads;

    public (TensorData Weight, TensorData Bias) Export() =>
        (TensorCodec.Encode("heads.weight", Weight), TensorCodec.Encode("heads.bias", Bias));

    public void CopyFrom(HeadBlock other)
    {
        using var _ = no_grad();
        Rows.copy_(other.Rows);
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
        Rows.Dispose();
        Bias.Dispose();
    }
}

/// <summary>
/// Some heads of a <see cref="HeadBlock"/>: <see cref="Columns"/> (their rows in the block, ascending, on the
/// device), their rows [heads × hidden] and bias, and a batch's cells with columns numbered within the slice.
/// </summary>
public sealed record HeadSlice(Tensor Columns, Tensor Rows, Tensor Bias, LabelCells Cells);
