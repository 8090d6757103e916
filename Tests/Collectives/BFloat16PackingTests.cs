using MtnnCluster.Collectives;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

public sealed class BFloat16PackingTests
{
    [Fact]
    public void Values_come_back_rounded_to_8_bits_of_mantissa_in_half_the_slots()
    {
        var random = new Random(4);
        var values = Enumerable.Range(0, 1001).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 6)))).ToArray();
        var packed = BFloat16Packing.Pack(values);
        Assert.Equal(501, packed.Length); // an odd count: half of the last slot unused
        var back = new float[values.Length];
        BFloat16Packing.Unpack(packed, back);
        for (var i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(back[i] - values[i]) <= Math.Abs(values[i]) / 256, $"{values[i]} came back as {back[i]}");
    }

    [Theory]
    [InlineData(1.0f, 1.0f)]
    [InlineData(-2.5f, -2.5f)]
    [InlineData(0f, 0f)]
    [InlineData(1.00390625f, 1.0f)]        // halfway between 1 and the next bfloat16 (1 + 2^-7): ties go to the even one
    [InlineData(1.01171875f, 1.015625f)]   // halfway between 1 + 2^-7 and 1 + 2^-6: to the even, upwards
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    public void Rounding_is_to_nearest_with_ties_to_even(float value, float expected)
    {
        var back = new float[1];
        BFloat16Packing.Unpack(BFloat16Packing.Pack([value]), back);
        Assert.Equal(expected, back[0]);
    }

    [Fact]
    public void A_nan_stays_a_nan_and_a_wrong_length_is_refused()
    {
        var back = new float[1];
        BFloat16Packing.Unpack(BFloat16Packing.Pack([float.NaN]), back);
        Assert.True(float.IsNaN(back[0]));
        Assert.Throws<ArgumentException>(() => BFloat16Packing.Unpack(new float[2], new float[5]));
    }
}
