using System.Runtime.InteropServices;

namespace MtnnCluster.Collectives;

/// <summary>
/// Float32 values sent as bfloat16 (<c>--wire-precision bf16</c>): each value rounded to its top 16 bits (round to
/// nearest, ties to even: 8 bits of mantissa, float32's range), two to a float32 slot of the exchange's arrays. The
/// slots carry bit patterns only and are never read as numbers; an odd count leaves half of the last slot zero.
/// </summary>
public static class BFloat16Packing
{
    /// <summary>Slots needed for <paramref name="count"/> values.</summary>
    public static int PackedLength(int count) => (count + 1) / 2;

    public static float[] Pack(ReadOnlySpan<float> values)
    {
        var packed = new float[PackedLength(values.Length)];
        var halves = MemoryMarshal.Cast<float, ushort>(packed.AsSpan());
        for (var i = 0; i < values.Length; i++) halves[i] = ToBFloat16(values[i]);
        return packed;
    }

    /// <summary>The <paramref name="values"/>.Length values packed in <paramref name="packed"/>, as float32.</summary>
    public static void Unpack(ReadOnlySpan<float> packed, Span<float> values)
    {
        if (packed.Length != PackedLength(values.Length))
            throw new ArgumentException($"{packed.Length} packed slots do not hold {values.Length} bfloat16 values");
        var halves = MemoryMarshal.Cast<float, ushort>(packed);
        for (var i = 0; i < values.Length; i++) values[i] = BitConverter.UInt32BitsToSingle((uint)halves[i] << 16);
    }

    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40); // stays a NaN (a quiet one) after truncation
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
