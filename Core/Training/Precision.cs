using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>
/// How the trunk's matrix products are computed. <c>Fp32</c>: plain float32. <c>Tf32</c>: float32 tensors, CUDA
/// matrix units round inputs to TF32 (CUDA only). <c>Bf16</c>: the trunk's layers run in bfloat16 on float32
/// master weights (optimizer, exchange and checkpoints stay float32), the heads and the loss in float32.
/// </summary>
public enum Precision { Fp32, Tf32, Bf16 }

/// <summary>
/// How embeddings and their gradients travel between workers: float32, or bfloat16 (half the bytes; each value
/// keeps 8 bits of mantissa). Trunk reductions are float32 either way. With one worker nothing travels.
/// </summary>
public enum WirePrecision { Fp32, Bf16 }

public static class PrecisionMode
{
    public static Precision Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "bf16" => Precision.Bf16,
        _ => throw new ArgumentException($"--precision must be fp32, tf32 or bf16 (got '{text}')"),
    };

    public static string Name(this Precision precision) => precision.ToString().ToLowerInvariant();

    /// <summary>The element type the trunk's layers compute in.</summary>
    public static ScalarType TrunkComputeType(this Precision precision) => precision == Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>Refuses a precision the device cannot honour: TF32 exists only on CUDA matrix units.</summary>
    public static void Require(Precision precision, Device device)
    {
        if (!Enum.IsDefined(precision)) throw new ArgumentException($"--precision: unknown value {(int)precision}");
        if (precision == Precision.Tf32 && device.type != DeviceType.CUDA)
            throw new ArgumentException($"--precision tf32 needs a CUDA device (TF32 is a mode of CUDA matrix units); this worker computes on {device.type.ToString().ToLowerInvariant()}: use fp32 or bf16");
    }

    /// <summary>
    /// Sets the process's TF32 switches for a worker on <paramref name="device"/>: on for tf32, off otherwise (a
    /// previous run in the same process may have left them on). They are process-wide; every worker of a run in one
    /// process shares the run's precision.
    /// </summary>
    public static void Apply(Precision precision, Device device)
    {
        Require(precision, device);
        if (device.type != DeviceType.CUDA) return;
        backends.cuda.matmul.allow_tf32 = precision == Precision.Tf32;
        backends.cudnn.allow_tf32 = precision == Precision.Tf32;
    }
}
