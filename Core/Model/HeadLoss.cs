using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// A head step's loss on a batch's labelled cells and the gradients of its heads and embeddings. On host memory,
/// where the
/// cells are few (thousands of tasks, most cells missing): per cell one dot product of its row's embedding with its
/// task's head forward and two scaled additions backward, in one pass over the heads. It computes what
/// <see cref="HeadBlock.Logits(Tensor, HeadSlice)"/>, <see cref="MaskedLoss.PerCell"/> and autograd compute
/// (up to float rounding), without their [cells × hidden] gathers and the scatter-adds of their backward, which
/// cost most of a head step at 10,000 tasks on a CPU.
/// </summary>
public static class HeadLoss
{
    /// <summary>Each cell's weighted loss, and (when asked for) the gradient with respect to the embeddings.</summary>
    public sealed record Result(Tensor PerCell, Tensor? HiddenGradient);

    /// <summary>
    /// Each cell's loss (<paramref name="cells"/>: the batch's, in the slice's order); the gradients of
    /// <paramref name="scale"/> × their sum are left on the slice's heads (with <paramref name="headGradients"/>) and,
    /// where <paramref name="inputs"/> requires grad, returned for them. Few cells on the host: the host passes;
    /// otherwise logits, loss and autograd. Call inside a dispose scope.
    /// </summary>
    public static Result Compute(Tensor inputs, HeadSlice slice, LabelCells cells, double scale, bool headGradients)
    {
        if (TryOnHost(inputs.detach(), slice, scale, headGradients, inputs.requires_grad) is { } host) return host;
        var perCell = MaskedLoss.PerCell(HeadBlock.Logits(inputs, slice), cells);
        if (headGradients || inputs.requires_grad)
            using (var mean = scale.ToScalar()) perCell.sum().mul(mean).backward();
        return new Result(perCell.detach(), inputs.requires_grad ? inputs.grad : null);
    }

    /// <summary>
    /// The loss of <paramref name="slice"/>'s cells on <paramref name="hidden"/> [rows × hidden]; with
    /// <paramref name="headGradients"/> the gradients of <paramref name="scale"/> × their sum are left on the slice's
    /// weight and bias (as a backward would leave them), with <paramref name="hiddenGradient"/> returned for the
    /// embeddings. Null where it does not apply (tensors off the host, or cells dense enough for one matrix product).
    /// Call inside a dispose scope.
    /// </summary>
    public static Result? TryOnHost(Tensor hidden, HeadSlice slice, double scale, bool headGradients, bool hiddenGradient)
    {
        var heads = slice.Rows.shape[0];
        if (!Applies(hidden, slice.Rows, slice.Bias, slice.Cells)) return null;
        var width = (int)hidden.shape[1];
        var weightGradient = headGradients ? empty([heads, width]) : null; // every row is written: each head has cells
        var biasGradient = headGradients ? empty([heads]) : null;
        var result = OnHost(hidden, slice.Rows, slice.Bias, slice.Cells, scale, weightGradient is null ? null : new GradientsInto(weightGradient, biasGradient!), hiddenGradient);
        if (headGradients)
        {
            slice.Rows.grad = weightGradient;
            slice.Bias.grad = biasGradient;
        }
        return result;
    }

    /// <summary>
    /// A head step on host memory in one pass, without a slice: the loss of <paramref name="cells"/> (columns are
    /// rows of <paramref name="heads"/>) on <paramref name="hidden"/>, each labelled head stepped in place by
    /// <paramref name="optimizer"/> as soon as its gradient is summed (null: the heads stay as they are), and, with
    /// <paramref name="hiddenGradient"/>, the embeddings' gradient, from the heads as they were before the step.
    /// Null where it does not apply. Call inside a dispose scope.
    /// </summary>
    public static Result? TryStepOnHost(Tensor hidden, HeadBlock heads, LabelCells cells, double scale, HeadAdamW? optimizer, bool hiddenGradient)
    {
        if (!Applies(hidden, heads.Rows, heads.Bias, cells)) return null;
        HeadAdamW.HostHeads? update = null;
        if (optimizer is not null && (update = optimizer.BeginHostStep()) is null) return null;
        return OnHost(hidden, heads.Rows, heads.Bias, cells, scale, update is { } u ? new StepInPlace(optimizer!, u) : null, hiddenGradient);
    }

    /// <summary>Whether the host pass applies: few cells (<see cref="HeadBlock.PerCellPath"/>), all on host memory.</summary>
    private static bool Applies(Tensor hidden, Tensor headRows, Tensor headBias, LabelCells cells) =>
        HeadBlock.PerCellPath(cells.Count, hidden.shape[0], headRows.shape[0])
        && new[] { hidden, headRows, headBias, cells.Targets, cells.Weights }.All(IsHostFloat)
        && new[] { cells.Rows, cells.Columns }.All(t => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Int64 && t.is_contiguous())
        && cells.Regression is { device_type: DeviceType.CPU, dtype: ScalarType.Bool } && cells.Regression.is_contiguous();

    /// <summary>What is done with a head's summed gradient (weights, bias), on any of the compute threads.</summary>
    private interface IHeadGradientSink
    {
        void Take(int head, ReadOnlySpan<float> weightGradient, float biasGradient);
    }

    /// <summary>Writes each head's gradient into [heads × hidden] and [heads] tensors, as a backward would.</summary>
    private sealed unsafe class GradientsInto(Tensor weight, Tensor bias) : IHeadGradientSink
    {
        private readonly float* _weight = (float*)HostMemory.Address(weight), _bias = (float*)HostMemory.Address(bias);
        private readonly int _width = (int)weight.shape[1];

        public void Take(int head, ReadOnlySpan<float> weightGradient, float biasGradient)
        {
            weightGradient.CopyTo(new Span<float>(_weight + (long)head * _width, _width));
            _bias[head] = biasGradient;
        }
    }

    /// <summary>Steps each head in place with the lazy head AdamW.</summary>
    private sealed class StepInPlace(HeadAdamW optimizer, HeadAdamW.HostHeads heads) : IHeadGradientSink
    {
        public void Take(int head, ReadOnlySpan<float> weightGradient, float biasGradient) => optimizer.StepHead(heads, head, weightGradient, biasGradient);
    }

    private static unsafe Result OnHost(Tensor hidden, Tensor headRows, Tensor headBias, LabelCells cells, double scale, IHeadGradientSink? sink, bool hiddenGradient)
    {
        var (batchRows, heads) = (hidden.shape[0], headRows.shape[0]);
        var width = (int)hidden.shape[1];
        ReadOnlySpan<long> columns = MemoryMarshal.Cast<byte, long>(cells.Columns.bytes);
        var count = (int)cells.Count;
        // cells by head (a counting sort): each head's row is then read, and its gradient written, once and in
        // order, while the batch's embeddings, a few kilobytes, stay in cache
        var first = new int[heads + 1];
        foreach (var c in columns) first[c + 1]++;
        for (var c = 0; c < heads; c++) first[c + 1] += first[c];
        var order = new int[count];
        var next = first[..^1];
        for (var i = 0; i < count; i++) order[next[columns[i]]++] = i;

        var loss = new float[count];
        // blocks of heads on the compute threads; a block's embedding gradients go to a buffer of its own, summed in
        // block order afterwards, so the result does not depend on the number of threads
        var blocks = (int)((heads + HeadsPerBlock - 1) / HeadsPerBlock);
        var hiddenGrad = hiddenGradient ? zeros([Math.Max(blocks, 1), batchRows, width]) : null;
        fixed (float* h = Floats(hidden), s = Floats(headRows), b = Floats(headBias), y = Floats(cells.Targets), w = Floats(cells.Weights))
        fixed (long* rows = MemoryMarshal.Cast<byte, long>(cells.Rows.bytes))
        fixed (bool* regression = MemoryMarshal.Cast<byte, bool>(cells.Regression.bytes))
        fixed (int* firstCell = first, cellOrder = order)
        fixed (float* lossOut = loss)
        fixed (float* gh = hiddenGrad is null ? default : Floats(hiddenGrad))
        {
            var at = new HostCells((nint)h, (nint)s, (nint)b, (nint)y, (nint)w, (nint)rows, (nint)regression, (nint)firstCell, (nint)cellOrder,
                (nint)lossOut, (nint)gh, width, (int)heads, (int)batchRows, (float)scale);
            var threads = Math.Min(get_num_threads(), blocks);
            if (threads <= 1)
                for (var block = 0; block < blocks; block++) LossOfHeads(at, block, sink);
            else
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, block => LossOfHeads(at, block, sink));
        }
        return new Result(tensor(loss), hiddenGrad is null ? null : blocks <= 1 ? hiddenGrad[0] : hiddenGrad.sum(dim: 0));
    }

    /// <summary>Heads a thread computes at a time.</summary>
    private const long HeadsPerBlock = 1024;

    /// <summary>Where a host pass's arrays are (pinned for its duration); a null embedding gradient where it is not wanted.</summary>
    private readonly record struct HostCells(nint Hidden, nint Heads, nint Bias, nint Targets, nint Weights, nint Rows, nint Regression,
        nint FirstCell, nint Order, nint Loss, nint HiddenGradient, int Width, int HeadCount, int BatchRows,
        float Scale);

    /// <summary>The loss and gradients of the cells of the heads in <paramref name="block"/>.</summary>
    private static unsafe void LossOfHeads(in HostCells at, int block, IHeadGradientSink? sink)
    {
        var (width, scale) = (at.Width, at.Scale);
        float* h = (float*)at.Hidden, s = (float*)at.Heads, b = (float*)at.Bias, y = (float*)at.Targets, w = (float*)at.Weights;
        var loss = (float*)at.Loss;
        Span<float> headGradient = stackalloc float[width];
        var rows = (long*)at.Rows;
        var regression = (bool*)at.Regression;
        int* first = (int*)at.FirstCell, order = (int*)at.Order;
        var gh = at.HiddenGradient == 0 ? null : (float*)at.HiddenGradient + (long)block * at.BatchRows * width;
        var from = (int)(block * HeadsPerBlock);
        var to = (int)Math.Min(at.HeadCount, from + HeadsPerBlock);
        for (var c = from; c < to; c++)
        {
            var head = new ReadOnlySpan<float>(s + (long)c * width, width);
            if (first[c] == first[c + 1]) continue; // no cells: neither stepped nor decayed (lazy)
            headGradient.Clear();
            var biasSum = 0f;
            for (var k = first[c]; k < first[c + 1]; k++)
            {
                var i = order[k];
                var r = rows[i];
                var embedding = new ReadOnlySpan<float>(h + r * width, width);
                var z = Dot(embedding, head) + b[c];
                var g = CellGradient(z, y[i], w[i], regression[i], scale, out loss[i]);
                if (sink is not null) AddScaled(headGradient, g, embedding);
                biasSum += g;
                if (gh != null) AddScaled(new Span<float>(gh + r * width, width), g, head);
            }
            sink?.Take(c, headGradient, biasSum);
        }
    }

    /// <summary>
    /// One cell's weighted loss on logit <paramref name="z"/> and d(<paramref name="scale"/> × loss) / dz: squared
    /// error for regression, else binary cross-entropy on the logit in its stable form, max(z, 0) − z·y +
    /// log(1 + e^−|z|), with the sigmoid from the same exponential.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static float CellGradient(float z, float y, float w, bool regression, float scale, out float loss)
    {
        if (regression)
        {
            var d = z - y;
            loss = w * d * d;
            return scale * w * 2 * d;
        }
        var e = MathF.Exp(-MathF.Abs(z));
        loss = w * (MathF.Max(z, 0) - z * y + MathF.Log(1 + e));
        var sigmoid = z >= 0 ? 1 / (1 + e) : e / (1 + e);
        return scale * w * (sigmoid - y);
    }

    /// <summary>
    /// A head-only epoch (ATE-SG's head phase) on host memory, head by head instead of step by step: the trunk is
    /// frozen, so a head's steps depend only on its own cells, and running all of one head's steps before the next
    /// head's gives the same heads as running the steps in turn, to the bit. Each head's weights and AdamW moments
    /// are then read and written once per epoch from the core's cache, where step by step every step streamed the
    /// touched heads' state (three floats per weight) through memory. <paramref name="embeddings"/>: the rows
    /// <paramref name="cells"/> name. Returns each head's summed loss and labelled cells. Null where it does not
    /// apply (tensors off the host, or a step's cells dense enough for the matrix-product path).
    /// </summary>
    public static unsafe (double[] Loss, long[] Cells)? TryEpochOnHost(Tensor embeddings, HeadBlock heads, HeadEpochCells cells, HeadAdamW optimizer)
    {
        if (!IsHostFloat(embeddings) || !IsHostFloat(heads.Rows) || !IsHostFloat(heads.Bias) || heads.Rows.shape[0] != cells.Heads) return null;
        if (!cells.EveryStepPerCell(heads.Rows.shape[0])) return null;
        if (optimizer.BeginHostSteps(cells.Steps) is not { } update) return null;
        var (count, width) = ((int)heads.Rows.shape[0], (int)embeddings.shape[1]);
        var (loss, labelled) = (new double[count], new long[count]);
        var blocks = (count + EpochHeadsPerBlock - 1) / EpochHeadsPerBlock;
        fixed (float* h = Floats(embeddings), s = Floats(heads.Rows), b = Floats(heads.Bias))
        {
            var at = ((nint)h, (nint)s, (nint)b);
            void Block(int block)
            {
                Span<float> headGradient = stackalloc float[width];
                for (var c = block * EpochHeadsPerBlock; c < Math.Min(count, (block + 1) * EpochHeadsPerBlock); c++)
                    (loss[c], labelled[c]) = TrainHead(at.Item1, at.Item2, at.Item3, width, c, cells, optimizer, update, headGradient);
            }
            var threads = Math.Min(get_num_threads(), blocks);
            if (threads <= 1)
                for (var block = 0; block < blocks; block++) Block(block);
            else
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Block);
        }
        return (loss, labelled);
    }

    /// <summary>Heads a thread trains at a time in a head-major epoch: their weights and moments, ~1.2 KB a head, fit a core's L2.</summary>
    private const int EpochHeadsPerBlock = 256;

    /// <summary>Every step of head <paramref name="c"/> in turn: its cells of a step summed into one gradient, then one AdamW step.</summary>
    private static unsafe (double Loss, long Cells) TrainHead(nint hiddenAt, nint headsAt, nint biasAt, int width, int c, HeadEpochCells cells,
        HeadAdamW optimizer, HeadAdamW.HostHeads update, Span<float> headGradient)
    {
        float* h = (float*)hiddenAt, b = (float*)biasAt;
        var head = new ReadOnlySpan<float>((float*)headsAt + (long)c * width, width);
        var regression = cells.Regression[c];
        var (first, last) = (cells.First[c], cells.First[c + 1]);
        double lossSum = 0;
        var all = cells.Cells;
        for (var k = first; k < last;)
        {
            var step = all[k].Step;
            var scale = cells.StepScale[step];
            headGradient.Clear();
            var biasSum = 0f;
            for (; k < last && all[k].Step == step; k++)
            {
                var cell = all[k];
                var embedding = new ReadOnlySpan<float>(h + (long)cell.Row * width, width);
                // the embedding a few cells on, asked for now: rows are scattered over megabytes, and waiting for each cost more than its arithmetic
                if (k + PrefetchAhead < last && System.Runtime.Intrinsics.X86.Sse.IsSupported)
                    PrefetchRow(h + (long)all[k + PrefetchAhead].Row * width, width);
                var g = CellGradient(Dot(embedding, head) + b[c], cell.Target, cell.Weight, regression, scale, out var cellLoss);
                lossSum += cellLoss;
                AddScaled(headGradient, g, embedding);
                biasSum += g;
            }
            optimizer.StepHead(update, c, headGradient, biasSum);
        }
        return (lossSum, last - first);
    }

    private const int PrefetchAhead = 4;

    private static unsafe void PrefetchRow(float* row, int width)
    {
        for (var offset = 0; offset < width; offset += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch0(row + offset); // a 64-byte line each
    }

    private static bool IsHostFloat(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous();

    private static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var i = 0;
        var sum = 0f;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var acc = Vector<float>.Zero;
            for (var k = 0; k < va.Length; k++) acc += va[k] * vb[k];
            sum = Vector.Sum(acc);
            i = va.Length * Vector<float>.Count;
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary><paramref name="target"/> += <paramref name="factor"/> × <paramref name="source"/>.</summary>
    private static void AddScaled(Span<float> target, float factor, ReadOnlySpan<float> source)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && target.Length >= Vector<float>.Count)
        {
            var vt = MemoryMarshal.Cast<float, Vector<float>>(target);
            var vs = MemoryMarshal.Cast<float, Vector<float>>(source);
            var f = new Vector<float>(factor);
            for (var k = 0; k < vt.Length; k++) vt[k] += f * vs[k];
            i = vt.Length * Vector<float>.Count;
        }
        for (; i < target.Length; i++) target[i] += factor * source[i];
    }
}
