using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// A list of tensors seen as one flat run of float32 elements, in list order (as a reduction buffer holds them):
/// which tensor elements a range of the flat order covers, and copies between such a range and host memory.
/// </summary>
public static class FlatRange
{
    /// <summary>
    /// The pieces of the flat range [<paramref name="start"/>, start + <paramref name="length"/>): tensor
    /// <c>Tensor</c>'s elements from <c>At</c> on, <c>Count</c> of them, which are the range's elements from <c>From</c> on.
    /// </summary>
    public static IEnumerable<(int Tensor, long At, int From, int Count)> Pieces(IReadOnlyList<Tensor> tensors, long start, int length)
    {
        if (start < 0 || length < 0) throw new ArgumentOutOfRangeException(nameof(start));
        long offset = 0;
        var from = 0;
        for (var i = 0; i < tensors.Count && from < length; i++)
        {
            var size = tensors[i].numel();
            var end = offset + size;
            var position = start + from;
            if (position < end)
            {
                var count = (int)Math.Min(end - position, length - from);
                yield return (i, position - offset, from, count);
                from += count;
            }
            offset = end;
        }
        if (from < length) throw new ArgumentOutOfRangeException(nameof(length), $"range [{start}, {start + length}) runs past the {offset} elements");
    }

    /// <summary>Copies the flat range starting at <paramref name="start"/> of <paramref name="tensors"/> into <paramref name="into"/>.</summary>
    public static void CopyTo(IReadOnlyList<Tensor> tensors, long start, Span<float> into)
    {
        foreach (var (i, at, from, count) in Pieces(tensors, start, into.Length))
        {
            var t = tensors[i];
            if (t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous())
                MemoryMarshal.Cast<byte, float>(t.bytes).Slice((int)at, count).CopyTo(into.Slice(from, count));
            else
            {
                using var part = t.detach().view(-1).narrow(0, at, count);
                TensorCodec.CopyTo(part, into.Slice(from, count));
            }
        }
    }

    /// <summary>The reverse of <see cref="CopyTo"/>: <paramref name="source"/> into the flat range starting at <paramref name="start"/>, without autograd.</summary>
    public static void CopyFrom(ReadOnlySpan<float> source, IReadOnlyList<Tensor> tensors, long start)
    {
        using var _ = no_grad();
        foreach (var (i, at, from, count) in Pieces(tensors, start, source.Length))
        {
            var t = tensors[i];
            if (t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous())
                source.Slice(from, count).CopyTo(MemoryMarshal.Cast<byte, float>(t.bytes).Slice((int)at, count));
            else
            {
                using var part = t.view(-1).narrow(0, at, count);
                using var values = tensor(source.Slice(from, count).ToArray(), device: t.device);
                part.copy_(values);
            }
        }
    }
}
