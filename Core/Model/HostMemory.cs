using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>Addresses of tensors on host memory, for loops that run on several threads (a span cannot be captured).</summary>
internal static class HostMemory
{
    /// <summary>Where a host tensor's elements start; libtorch does not move them while the tensor lives.</summary>
    public static unsafe nint Address(Tensor t)
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException("tensor is not on host memory");
        fixed (byte* p = t.bytes) return (nint)p;
    }
}
