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
        var cells = slice.Cells;
        var (batchRows, heads) = (hidden.shape[0], slice.Rows.shape[0]);
        if (!HeadBlock.PerCellPath(cells.Count, batchRows, heads)) return null;
        if (!new[] { hidden, slice.Rows, slice.Bias, cells.Targets, cells.Weights }.All(IsHostFloat)
            || !new[] { cells.Rows, cells.Columns }.All(t => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Int64 && t.is_contiguous())
            || cells.Regression is not { device_type: DeviceType.CPU, dtype: ScalarType.Bool } || !cells.Regression.is_contiguous())
            return null;

        var width = (int)hidden.shape[1];
        ReadOnlySpan<float> h = Floats(hidden), s = Floats(slice.Rows), b = Floats(slice.Bias), y = Floats(cells.Targets), w = Floats(cells.Weights);
        ReadOnlySpan<long> rows = MemoryMarshal.Cast<byte, long>(cells.Rows.bytes), columns = MemoryMarshal.Cast<byte, long>(cells.Columns.bytes);
        ReadOnlySpan<bool> regression = MemoryMarshal.Cast<byte, bool>(cells.Regression.bytes);
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
        var weightGradient = headGradients ? empty([heads, width]) : null; // every row is written: each head has cells
        var biasGradient = headGradients ? empty([heads]) : null;
        var hiddenGrad = hiddenGradient ? zeros([batchRows, width]) : null;
        Span<float> gw = weightGradient is null ? default : Floats(weightGradient), gb = biasGradient is null ? default : Floats(biasGradient);
        Span<float> gh = hiddenGrad is null ? default : Floats(hiddenGrad);
        for (var c = 0; c < heads; c++)
        {
            var head = s.Slice(c * width, width);
            var headGradient = headGradients ? gw.Slice(c * width, width) : default;
            headGradient.Clear();
            var biasSum = 0f;
            for (var k = first[c]; k < first[c + 1]; k++)
            {
                var i = order[k];
                var r = (int)rows[i];
                var embedding = h.Slice(r * width, width);
                var z = Dot(embedding, head) + b[c];
                float g; // d(scale × Σ loss) / d logit
                if (regression[i])
                {
                    var d = z - y[i];
                    loss[i] = w[i] * d * d;
                    g = (float)(scale * w[i] * 2 * d);
                }
                else
                {
                    // binary cross-entropy on the logit, in its stable form: max(z, 0) − z·y + log(1 + e^−|z|)
                    loss[i] = w[i] * (MathF.Max(z, 0) - z * y[i] + MathF.Log(1 + MathF.Exp(-MathF.Abs(z))));
                    g = (float)(scale * w[i] * (1 / (1 + MathF.Exp(-z)) - y[i]));
                }
                if (headGradients) AddScaled(headGradient, g, embedding);
                biasSum += g;
                if (hiddenGradient) AddScaled(gh.Slice(r * width, width), g, head);
            }
            if (headGradients) gb[c] = biasSum;
        }
        if (headGradients)
        {
            slice.Rows.grad = weightGradient;
            slice.Bias.grad = biasGradient;
        }
        return new Result(tensor(loss), hiddenGrad);
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
