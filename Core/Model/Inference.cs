using MtnnCluster.Data;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>Evaluation-mode forward passes, shared by workers scoring their tasks and by <c>mtnn predict</c>.</summary>
public static class Inference
{
    /// <summary>Rows per forward pass in evaluation: bounds the memory of [rows × tasks] outputs.</summary>
    public const int ChunkRows = 4096;

    /// <summary>
    /// Predictions [rows × tasks] on the CPU in the units of the data: probabilities for classification columns,
    /// de-standardised values for regression columns.
    /// </summary>
    public static float[] Predict(ITrunk trunk, HeadBlock heads, ITrunkRows rows, IReadOnlyList<TaskInfo> tasks, IReadOnlyList<TargetScale> scales)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var outputs = heads.Forward(trunk.Embed(rows));
        return DataUnits(tasks, scales, outputs.device).OfColumns(outputs).cpu().contiguous().data<float>().ToArray();
    }

    /// <summary>How each task's outputs become values in the data's units. Call inside a dispose scope.</summary>
    public static OutputUnits DataUnits(IReadOnlyList<TaskInfo> tasks, IReadOnlyList<TargetScale> scales, Device device) => new(
        tensor(tasks.Select(t => t.Kind == TaskKind.Regression).ToArray()).to(device),
        tensor(scales.Select(s => (float)s.Std).ToArray()).to(device),
        tensor(scales.Select(s => (float)s.Mean).ToArray()).to(device));

    /// <summary>Per task column: regression (de-standardise by std and mean) or classification (probability).</summary>
    public sealed record OutputUnits(Tensor IsRegression, Tensor Std, Tensor Mean)
    {
        /// <summary>Outputs [rows × tasks], one column per task.</summary>
        public Tensor OfColumns(Tensor outputs) => where(IsRegression, outputs.mul(Std).add(Mean, Scalars.One), outputs.sigmoid());

        /// <summary>Outputs of single cells, each of task column <paramref name="columns"/>[i].</summary>
        public Tensor OfCells(Tensor outputs, Tensor columns) => where(IsRegression.index_select(0, columns),
            outputs.mul(Std.index_select(0, columns)).add(Mean.index_select(0, columns), Scalars.One), outputs.sigmoid());
    }
}
