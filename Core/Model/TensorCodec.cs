using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// Moves float32 tensors in and out of <see cref="TensorData"/> (the wire and checkpoint form). Each direction is
/// one copy between managed bytes and the tensor's memory: trunks of tens of megabytes cross here every step.
/// </summary>
public static class TensorCodec
{
    public static TensorData Encode(string name, Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        var bytes = FreshArrays.ForWriting(checked((int)(cpu.numel() * sizeof(float)))); // every byte is written below
        cpu.bytes.CopyTo(bytes);
        return new TensorData(name, cpu.shape.Select(d => checked((int)d)).ToArray(), bytes);
    }

    public static Tensor Decode(TensorData data, Device? device = null)
    {
        CheckSize(data);
        var cpu = empty(data.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32, CPU);
        data.Bytes.CopyTo(cpu.bytes);
        if (device is null || device.type == DeviceType.CPU) return cpu;
        using (cpu) return cpu.to(device);
    }

    /// <summary>Copies <paramref name="data"/> into an existing tensor of the same shape, without autograd.</summary>
    public static void CopyInto(TensorData data, Tensor target)
    {
        CheckSize(data);
        if (!data.Shape.Select(d => (long)d).SequenceEqual(target.shape))
            throw new InvalidDataException($"tensor {data.Name}: shape [{string.Join(',', data.Shape)}] does not match [{string.Join(',', target.shape)}]");
        using var _ = no_grad();
        if (target.device_type == DeviceType.CPU && target.dtype == ScalarType.Float32 && target.is_contiguous())
        {
            data.Bytes.CopyTo(target.bytes); // straight into the parameter's memory
            return;
        }
        using var source = Decode(data, target.device);
        target.copy_(source);
    }

    /// <summary>
    /// Copies a float32 tensor's elements into <paramref name="into"/>: one memcpy from a contiguous CPU tensor
    /// (TorchSharp's element accessor copies one element at a time), a device copy first otherwise.
    /// </summary>
    public static void CopyTo(Tensor source, Span<float> into)
    {
        if (source.device_type == DeviceType.CPU && source.dtype == ScalarType.Float32 && source.is_contiguous())
        {
            MemoryMarshal.Cast<byte, float>(source.bytes).CopyTo(into);
            return;
        }
        using var cpu = source.detach().to(ScalarType.Float32, CPU).contiguous();
        MemoryMarshal.Cast<byte, float>(cpu.bytes).CopyTo(into);
    }

    /// <summary>The reverse of <see cref="CopyTo(Tensor, Span{float})"/>: <paramref name="source"/> into the tensor's memory, without autograd.</summary>
    public static void CopyFrom(ReadOnlySpan<float> source, Tensor target)
    {
        using var _ = no_grad();
        if (target.device_type == DeviceType.CPU && target.dtype == ScalarType.Float32 && target.is_contiguous())
        {
            MemoryMarshal.AsBytes(source).CopyTo(target.bytes);
            return;
        }
        using var cpu = empty(target.shape, ScalarType.Float32, CPU);
        MemoryMarshal.AsBytes(source).CopyTo(cpu.bytes);
        target.copy_(cpu);
    }

    private static void CheckSize(TensorData data)
    {
        if (data.Shape.Any(d => d < 0) || data.ElementCount * sizeof(float) != data.Bytes.LongLength)
            throw new InvalidDataException($"tensor {data.Name}: {data.Bytes.LongLength} bytes do not hold shape [{string.Join(',', data.Shape)}] of float32");
    }
}
