using MtnnCluster.Data;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>Evaluation-mode forward passes, shared by workers scoring their tasks and by <c>mtnn predict</c>.</summary>
public static class Inference
{
    private const int ChunkRows = 4096;

    /// <summary>Trunk outputs for every row, without dropout or autograd, in chunks to bound memory.</summary>
    public static Tensor Embed(Trunk trunk, Tensor features)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var rows = features.shape[0];
        if (rows == 0) return zeros([0, trunk.OutputSize], device: features.device).MoveToOuterDisposeScope();
        var chunks = new List<Tensor>();
        for (long start = 0; start < rows; start += ChunkRows)
            chunks.Add(trunk.Forward(features.narrow(0, start, Math.Min(ChunkRows, rows - start)), 0, null));
        return cat(chunks, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Predictions [rows × tasks] on the CPU in the units of the data: probabilities for classification columns,
    /// de-standardised values for regression columns.
    /// </summary>
    public static float[] Predict(Trunk trunk, HeadBlock heads, Tensor features, IReadOnlyList<TaskInfo> tasks, IReadOnlyList<TargetScale> scales)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var outputs = heads.Forward(Embed(trunk, features));
        var regression = tasks.Select(t => t.Kind == TaskKind.Regression).ToArray();
        var scale = tensor(scales.Select(s => (float)s.Std).ToArray()).to(outputs.device);
        var shift = tensor(scales.Select(s => (float)s.Mean).ToArray()).to(outputs.device);
        var isRegression = tensor(regression).to(outputs.device);
        var values = where(isRegression, outputs.mul(scale).add(shift, Scalars.One), outputs.sigmoid());
        return values.cpu().contiguous().data<float>().ToArray();
    }
}

/// <summary>Dense feature tensors from sparse rows.</summary>
public static class FeatureMatrix
{
    public static Tensor Dense(IReadOnlyList<SparseFeatures> features, IReadOnlyList<int> rows, int size, Device device)
    {
        var values = new float[(long)rows.Count * size];
        for (var i = 0; i < rows.Count; i++)
        {
            var row = features[rows[i]];
            var offset = (long)i * size;
            for (var k = 0; k < row.Indices.Length; k++) values[offset + row.Indices[k]] = row.Values[k];
        }
        var cpu = tensor(values, [rows.Count, size], ScalarType.Float32);
        if (device.type == DeviceType.CPU) return cpu;
        using (cpu) return cpu.to(device);
    }
}
