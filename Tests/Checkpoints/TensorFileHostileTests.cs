using System.Buffers.Binary;
using System.Text;
using MtnnCluster.Checkpoints;
using Xunit;

namespace MtnnCluster.Tests.Checkpoints;

/// <summary>Tensor files written to deceive the reader: shapes whose product overflows, negative dimensions, a huge header, overlapping ranges.</summary>
public sealed class TensorFileHostileTests
{
    /// <summary>A safetensors file with <paramref name="header"/> (JSON) and <paramref name="dataBytes"/> zero bytes of data.</summary>
    private static byte[] File(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    [Fact]
    public void A_shape_whose_product_overflows_is_refused()
    {
        // 2^32 × 2^32 × 4 wraps to 0 in 64 bits: before, it passed as a tensor of 0 bytes with range [0,0]
        var file = File("""{"0000/w":{"dtype":"F32","shape":[2147483647,2147483647,2147483647,8],"data_offsets":[0,0]}}""", 0);
        var error = Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file, "model.safetensors"));
        Assert.Contains("model.safetensors: tensor 0000/w has shape [2147483647,2147483647,2147483647,8], more elements than a file can hold", error.Message);
    }

    [Fact]
    public void A_negative_dimension_is_refused_by_name()
    {
        // -1 × -4 = 4 elements = 16 bytes: before, two negatives made a valid-looking product
        var file = File("""{"0000/w":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}""", 16);
        Assert.Contains("negative dimension (-1)", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file, "w")).Message);
    }

    [Fact]
    public void A_header_over_100_MB_is_refused_before_it_is_read()
    {
        var file = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(file, TensorFile.MaxHeaderBytes + 1);
        Assert.Contains("over the 100000000-byte limit", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file, "w")).Message);
    }

    [Fact]
    public void Overlapping_ranges_are_refused()
    {
        var file = File("""{"0000/a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"0001/b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", 16);
        Assert.Contains("tensors 0000/a [0,16) and 0001/b [8,16) overlap", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file, "w")).Message);
    }
}
