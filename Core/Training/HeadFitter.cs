using MtnnCluster.Data;
using MtnnCluster.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>Labelled cells to fit new heads on: the row of each (into the embeddings), its task, its label in the data's units.</summary>
public sealed record SupportCells(int[] Rows, int[] Tasks, float[] Labels)
{
    public int Count => Rows.Length;
}

/// <summary>What was chosen for one new task.</summary>
public sealed record HeadFit(int Labels, int Positives, double L2, double HeldOutLoss, TargetScale Scale);

/// <summary>
/// Heads for new tasks on a frozen trunk, from as few as 16 labelled molecules a task, where no validation split
/// is possible. Each head is an L2-penalised logistic (or, for regression, least-squares) fit on the trunk's
/// outputs. Its penalty is chosen per task by stratified K-fold cross-validation on the task's own labels: every
/// (task, penalty, fold) is an independent column of one head block, all trained together, and the penalty whose
/// held-out loss is lowest is kept (ties: the larger). Stopping is a fixed number of full-batch Adam steps
/// (<see cref="Steps"/>), the same for every fit, so nothing is tuned on the labels being scored.
/// </summary>
public static class HeadFitter
{
    /// <summary>Penalties tried, on the mean loss: λ‖w‖².</summary>
    public static readonly double[] L2Grid = [1e-3, 1e-2, 1e-1, 1];
    public const int Folds = 4, Steps = 300;
    public const double LearningRate = 0.02;

    /// <summary>
    /// Fits <paramref name="kinds"/>.Length heads on <paramref name="embeddings"/> [rows × hidden]; returns weight
    /// [hidden × tasks] and bias [tasks] (standardised units for regression tasks, whose scale is in the fit).
    /// <paramref name="taskIds"/> (default 0, 1, ...) seed each task's folds: a task fitted among any other tasks,
    /// on any worker, gets the same folds and so the same head, since every (task, penalty, fold) column trains
    /// on its own cells alone.
    /// </summary>
    public static (TensorData Weight, TensorData Bias, HeadFit[] Fits) Fit(Tensor embeddings, SupportCells cells, TaskKind[] kinds, long seed, int[]? taskIds = null)
    {
        var taskCount = kinds.Length;
        if (taskIds is not null && taskIds.Length != taskCount) throw new ArgumentException($"{taskIds.Length} task ids for {taskCount} tasks");
        var (grid, folds) = (L2Grid.Length, Folds + 1); // the last "fold" trains on every label
        var byTask = Enumerable.Range(0, taskCount).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < cells.Count; i++) byTask[cells.Tasks[i]].Add(i);
        var scales = new TargetScale[taskCount];
        var fold = new int[cells.Count];
        for (var t = 0; t < taskCount; t++)
        {
            scales[t] = kinds[t] == TaskKind.Regression ? ScaleOf(byTask[t].Select(i => cells.Labels[i])) : TargetScale.Identity;
            // stratified: each class (for regression, the whole task) shuffled and dealt round the folds
            var random = new Random((int)SeededInit.Mix(seed, 0xF01D, taskIds?[t] ?? t));
            foreach (var group in byTask[t].GroupBy(i => kinds[t] == TaskKind.Classification ? cells.Labels[i] : 0f))
            {
                var members = group.ToArray();
                random.Shuffle(members);
                for (var k = 0; k < members.Length; k++) fold[members[k]] = k % Folds;
            }
        }
        int Column(int task, int l, int f) => (task * grid + l) * folds + f;
        var columns = taskCount * grid * folds;

        var (rows, cols, targets) = (new List<long>(), new List<long>(), new List<float>());
        var (heldRows, heldCols, heldTargets) = (new List<long>(), new List<long>(), new List<float>());
        for (var i = 0; i < cells.Count; i++)
        {
            var t = cells.Tasks[i];
            var target = (float)((cells.Labels[i] - scales[t].Mean) / scales[t].Std);
            for (var l = 0; l < grid; l++)
            {
                for (var f = 0; f < folds; f++)
                    if (f != fold[i]) { rows.Add(cells.Rows[i]); cols.Add(Column(t, l, f)); targets.Add(target); }
                heldRows.Add(cells.Rows[i]); heldCols.Add(Column(t, l, fold[i])); heldTargets.Add(target);
            }
        }
        var device = embeddings.device;
        var regression = Enumerable.Range(0, columns).Select(c => kinds[c / (grid * folds)] == TaskKind.Regression).ToArray();
        var perColumn = new int[columns];
        foreach (var c in cols) perColumn[c]++;
        using var scope = NewDisposeScope();
        var training = Cells(rows, cols, targets, regression, c => 1f / Math.Max(1, perColumn[c]), device);
        var held = Cells(heldRows, heldCols, heldTargets, regression, _ => 1f, device);
        var penalty = tensor(Enumerable.Range(0, columns).Select(c => (float)L2Grid[c / folds % grid]).ToArray()).to(device);
        var hidden = embeddings.shape[1];
        using var heads = new HeadBlock(Enumerable.Range(0, columns).ToArray(), zeros([hidden, columns], device: device), zeros(columns, device: device));
        using var adam = new AdamW(heads.Parameters, LearningRate, weightDecay: 0);
        for (var step = 0; step < Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            foreach (var p in heads.Parameters) p.grad?.zero_();
            var loss = MaskedLoss.Sum(heads.Logits(embeddings, training), training)
                .add(heads.Rows.square().sum(1).mul(penalty).sum());
            loss.backward();
            adam.Step();
        }

        float[] heldLoss;
        using (no_grad()) heldLoss = MaskedLoss.PerCell(heads.Logits(embeddings, held), held).cpu().data<float>().ToArray();
        var (lossSum, lossCount) = (new double[taskCount * grid], new int[taskCount * grid]);
        for (var k = 0; k < heldLoss.Length; k++)
        {
            var at = (int)(heldCols[k] / folds);
            lossSum[at] += heldLoss[k];
            lossCount[at]++;
        }
        var fits = new HeadFit[taskCount];
        var chosen = new long[taskCount];
        for (var t = 0; t < taskCount; t++)
        {
            var best = grid - 1;
            for (var l = grid - 2; l >= 0; l--)
                if (lossSum[t * grid + l] / Math.Max(1, lossCount[t * grid + l]) < lossSum[t * grid + best] / Math.Max(1, lossCount[t * grid + best])) best = l;
            chosen[t] = Column(t, best, Folds);
            var positives = kinds[t] == TaskKind.Classification ? byTask[t].Count(i => cells.Labels[i] == 1) : 0;
            fits[t] = new HeadFit(byTask[t].Count, positives, L2Grid[best], lossSum[t * grid + best] / Math.Max(1, lossCount[t * grid + best]), scales[t]);
        }
        using var pick = tensor(chosen).to(device);
        using var weight = heads.Rows.detach().index_select(0, pick).t();
        using var bias = heads.Bias.detach().index_select(0, pick);
        return (TensorCodec.Encode("heads.weight", weight), TensorCodec.Encode("heads.bias", bias), fits);
    }

    private static LabelCells Cells(List<long> rows, List<long> columns, List<float> targets, bool[] regression, Func<long, float> weight, Device device) =>
        new(tensor(rows.ToArray()).to(device), tensor(columns.ToArray()).to(device), tensor(targets.ToArray()).to(device),
            tensor(columns.Select(weight).ToArray()).to(device), tensor(columns.Select(c => regression[c]).ToArray()).to(device), rows.Count);

    private static TargetScale ScaleOf(IEnumerable<float> labels)
    {
        var values = labels.Select(v => (double)v).ToArray();
        if (values.Length == 0) return TargetScale.Identity;
        var mean = values.Average();
        var std = Math.Sqrt(values.Sum(x => (x - mean) * (x - mean)) / values.Length);
        return new TargetScale(mean, std > 1e-12 ? std : 1);
    }
}
