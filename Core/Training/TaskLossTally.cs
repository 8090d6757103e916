using MtnnCluster.Model;
using MtnnCluster.Telemetry;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>
/// The training loss of each of a worker's tasks, summed over an epoch on the device (no copy to the host per
/// batch) and published as <c>mtnn.task.loss</c>, one value per task, when the epoch is scored.
/// </summary>
public sealed class TaskLossTally(int tasks, Device device) : IDisposable
{
    private readonly Tensor _loss = zeros(tasks, device: device);
    private readonly Tensor _labels = zeros(tasks, device: device);

    /// <summary>Adds a batch: the loss of each labelled cell and the task column it belongs to.</summary>
    public void Add(Tensor perCell, Tensor columns)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        _loss.index_add_(0, columns, perCell.detach(), Scalars.One);
        _labels.index_add_(0, columns, ones_like(perCell), Scalars.One);
    }

    /// <summary>Adds each task's summed loss and labelled cells (a head-major epoch's, counted on the host).</summary>
    public void AddSums(double[] loss, long[] cells)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        _loss.add_(tensor(loss.Select(l => (float)l).ToArray()).to(_loss.device), Scalars.One);
        _labels.add_(tensor(cells.Select(c => (float)c).ToArray()).to(_labels.device), Scalars.One);
    }

    /// <summary>Publishes the loss per labelled entry of every task that saw labels since the last call, then starts over.</summary>
    public void Publish(IReadOnlyList<string> taskNames)
    {
        float[] loss, labels;
        using (NewDisposeScope())
        {
            loss = _loss.cpu().data<float>().ToArray();
            labels = _labels.cpu().data<float>().ToArray();
        }
        for (var j = 0; j < taskNames.Count; j++)
            if (labels[j] > 0) MtnnTelemetry.TaskLossMeasured(taskNames[j], loss[j] / labels[j]);
        _loss.zero_();
        _labels.zero_();
    }

    public void Dispose()
    {
        _loss.Dispose();
        _labels.Dispose();
    }
}
