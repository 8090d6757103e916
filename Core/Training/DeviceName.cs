using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>Parses <c>cpu</c>, <c>cuda</c> and <c>cuda:i</c>, failing with a clear message when CUDA is absent.</summary>
public static class DeviceName
{
    public static Device Parse(string name)
    {
        var text = name.Trim().ToLowerInvariant();
        if (text == "cpu") return CPU;
        if (text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var index = 0;
            if (text.Length > 5 && !int.TryParse(text[5..], out index))
                throw new ArgumentException($"--device: '{name}' is not cpu, cuda or cuda:<index>");
            if (!CudaAvailable())
                throw new ArgumentException($"--device {name}: CUDA is not available on this machine (this build uses libtorch's CPU backend unless built with -p:TorchBackend=cuda)");
            if (index >= cuda.device_count())
                throw new ArgumentException($"--device {name}: only {cuda.device_count()} CUDA device(s) here");
            return new Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"--device: '{name}' is not cpu, cuda or cuda:<index>");
    }

    private static bool CudaAvailable()
    {
        try
        {
            InitializeDeviceType(DeviceType.CUDA);
            return cuda.is_available();
        }
        catch (Exception)
        {
            return false; // a CPU-only libtorch cannot load the CUDA backend at all
        }
    }
}
