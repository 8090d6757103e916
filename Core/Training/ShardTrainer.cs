using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Telemetry;
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>The outcome of one batch or one head epoch on a worker: summed loss and what it was summed over.</summary>
public sealed record ShardLoss(double LossSum, long Labels, int Rows);

/// <summary>
/// The tensor math of one worker: its tasks' heads, the rows labelled for them, a local copy of the trunk.
/// It computes trunk gradients for the coordinator to reduce, trains its heads, and scores its tasks. No actors
/// here: the worker actor drives it, and tests call it directly.
/// </summary>
public sealed class ShardTrainer : IDisposable
{
    /// <summary>A split's rows labelled for this worker's tasks, with their features and labels on the device.</summary>
    private sealed class SplitRows(int[] rows, DeviceFeatures features, DeviceLabels labels) : IDisposable
    {
        public int[] Rows { get; } = rows;
        public DeviceFeatures Features { get; } = features;
        public DeviceLabels Labels { get; } = labels;
        public void Dispose() { Features.Dispose(); Labels.Dispose(); }
    }

    private readonly PreparedDataset _data;
    private readonly RunSpec _spec;
    private readonly Device _device;
    private readonly Trunk _trunk;
    private readonly HeadBlock _heads;
    private readonly HeadAdamW _headOptimizer;
    private readonly Generator _dropout;
    private readonly TaskLossTally _taskLoss;
    private readonly Dictionary<Split, SplitRows> _splits = [];
    /// <summary>Dataset task → this worker's column for it, -1 for tasks of other workers.</summary>
    private readonly int[] _column;
    private HeadBlock? _bestHeads;
    private AdamW? _trunkOptimizer;
    private Tensor? _embeddings;
    private long _embeddingsVersion = -1;
    private long[]? _order;
    private int _orderEpoch = -1;

    public int[] TaskIndices { get; }
    public int TrainRows => _splits[Split.Train].Rows.Length;
    public long TrainLabels { get; }

    /// <summary>What this worker keeps on its device for its rows, for the log.</summary>
    public string Residency
    {
        get
        {
            var features = _splits.Values.Sum(s => s.Features.StoredBytes);
            var labels = _splits.Values.Sum(s => s.Labels.StoredBytes);
            return $"features {features / 1e6:0.#} MB ({_splits[Split.Train].Features.Layout}), labels {labels / 1e6:0.#} MB " +
                   $"({_splits.Values.Sum(s => s.Labels.Count)} labelled cells) on the device";
        }
    }

    /// <summary>
    /// <paramref name="heads"/> and <paramref name="bestHeads"/>: where this worker's heads start when the run
    /// resumes or its tasks came from another worker (null: fresh heads, seeded by task).
    /// </summary>
    public ShardTrainer(PreparedDataset data, RunSpec spec, int[] taskIndices, Device device, HeadState? heads = null, HeadState? bestHeads = null)
    {
        PrecisionMode.Apply(spec.Precision, device);
        _data = data;
        _spec = spec;
        _device = device;
        TaskIndices = taskIndices;
        _column = Enumerable.Repeat(-1, data.TaskCount).ToArray();
        for (var j = 0; j < taskIndices.Length; j++) _column[taskIndices[j]] = j;
        var positiveWeights = PositiveWeights();
        foreach (var split in new[] { Split.Train, Split.Valid, Split.Test })
            _splits[split] = LoadRows(split switch { Split.Train => data.Split.Train, Split.Valid => data.Split.Valid, _ => data.Split.Test }, positiveWeights);
        TrainLabels = _splits[Split.Train].Labels.Count;
        _trunk = new Trunk(data.FeatureSize, spec.Model.Layers, spec.Seed, device) { ComputeType = spec.Precision.TrunkComputeType() };
        _heads = heads is null ? new HeadBlock(spec.Model.Layers[^1], taskIndices, spec.Seed, device) : HeadsFrom(heads, device);
        _headOptimizer = new HeadAdamW(_heads, spec.Optimizer.LearningRate, spec.Optimizer.WeightDecay);
        if (heads?.Moments is { } moments) _headOptimizer.ImportMoments(moments, heads.StepsPerHead());
        if (bestHeads is not null) _bestHeads = HeadsFrom(bestHeads, device);
        _dropout = new Generator(checked((ulong)SeededInit.Mix(spec.Seed, 0xD509, taskIndices.FirstOrDefault())), device);
        _taskLoss = new TaskLossTally(taskIndices.Length, device);
    }

    private HeadBlock HeadsFrom(HeadState state, Device device)
    {
        if (!state.TaskIndices.SequenceEqual(TaskIndices))
            throw new InvalidDataException($"head state for tasks [{string.Join(',', state.TaskIndices.Take(8))}...] does not match this worker's tasks");
        using var weight = TensorCodec.Decode(state.Weight, device);
        using var bias = TensorCodec.Decode(state.Bias, device);
        if (weight.shape[0] != _spec.Model.Layers[^1])
            throw new InvalidDataException($"head state: width {weight.shape[0]}, the trunk's output is {_spec.Model.Layers[^1]}");
        return new HeadBlock(TaskIndices, weight, bias);
    }

    private SplitRows LoadRows(int[] splitRows, float[] positiveWeights)
    {
        var rows = _data.LabelledRows(splitRows, TaskIndices);
        var (rowStart, columns, labels) = CellsOf(rows);
        var targets = new float[labels.Length];
        for (var k = 0; k < labels.Length; k++)
        {
            var scale = _data.Scales[TaskIndices[columns[k]]];
            targets[k] = (float)((labels[k] - scale.Mean) / scale.Std);
        }
        var regression = TaskIndices.Select(t => _data.Tasks[t].Kind == TaskKind.Regression).ToArray();
        var deviceLabels = new DeviceLabels(rowStart, columns, targets, regression, positiveWeights, _device, TaskIndices.Select(t => _data.TaskWeights[t]).ToArray());
        return new SplitRows(rows, DeviceFeatures.Create(_data.Features, rows, _data.FeatureSize, _device), deviceLabels);
    }

    /// <summary>
    /// The cells of <paramref name="rows"/> labelled for this worker's tasks, in row order (the order of the device
    /// store): row offsets, this worker's column of each cell's task, and its label as in the data.
    /// </summary>
    private (long[] RowStart, int[] Columns, float[] Labels) CellsOf(int[] rows)
    {
        var rowStart = new long[rows.Length + 1];
        for (var i = 0; i < rows.Length; i++)
        {
            var mine = 0;
            foreach (var task in _data.Labels.TasksOf(rows[i])) if (_column[task] >= 0) mine++;
            rowStart[i + 1] = rowStart[i] + mine;
        }
        var (columns, labels) = (new int[rowStart[^1]], new float[rowStart[^1]]);
        var cell = 0;
        foreach (var row in rows)
        {
            var tasks = _data.Labels.TasksOf(row);
            var values = _data.Labels.ValuesOf(row);
            for (var k = 0; k < tasks.Length; k++)
                if (_column[tasks[k]] >= 0) (columns[cell], labels[cell++]) = (_column[tasks[k]], values[k]);
        }
        return (rowStart, columns, labels);
    }

    /// <summary>With balancing on, a task's positives weigh negatives/positives of its training labels.</summary>
    private float[] PositiveWeights()
    {
        var weights = Enumerable.Repeat(1f, TaskIndices.Length).ToArray();
        if (!_spec.Optimizer.BalancePositives) return weights;
        var (positives, negatives) = (new int[TaskIndices.Length], new int[TaskIndices.Length]);
        foreach (var row in _data.Split.Train)
        {
            var tasks = _data.Labels.TasksOf(row);
            var values = _data.Labels.ValuesOf(row);
            for (var k = 0; k < tasks.Length; k++)
            {
                var column = _column[tasks[k]];
                if (column < 0 || _data.Tasks[tasks[k]].Kind != TaskKind.Classification) continue;
                if (values[k] == 1) positives[column]++;
                else if (values[k] == 0) negatives[column]++;
            }
        }
        for (var j = 0; j < weights.Length; j++)
            if (positives[j] > 0 && negatives[j] > 0) weights[j] = (float)negatives[j] / positives[j];
        return weights;
    }

    /// <summary>This worker's rows for batch <paramref name="step"/> of an epoch: a seeded shuffle cut into equal parts.</summary>
    private long[] BatchRows(int epoch, int step, int steps, int rowCount)
    {
        if (_order is null || _orderEpoch != epoch || _order.Length != rowCount)
        {
            _order = Enumerable.Range(0, rowCount).Select(i => (long)i).ToArray();
            new SplitMix64(SeededInit.Mix(_spec.Seed, epoch, TaskIndices.FirstOrDefault())).Shuffle(_order);
            _orderEpoch = epoch;
        }
        var start = (int)((long)step * rowCount / steps);
        var end = (int)((long)(step + 1) * rowCount / steps);
        return _order[start..end];
    }

    /// <summary>
    /// One synchronous step: the gradient of this worker's summed loss with respect to the trunk it was sent.
    /// In the joint phase the heads take their own step too; in the trunk phase they stay frozen.
    /// </summary>
    public (ShardLoss Loss, TensorData[] Gradients) TrunkStep(int epoch, int step, int steps, EpochPhase phase, IReadOnlyList<TensorData> trunk)
    {
        var started = Stopwatch.GetTimestamp();
        _trunk.Load(trunk);
        using var scope = NewDisposeScope();
        var loss = BatchBackward(epoch, step, steps, phase);
        var gradients = _trunk.Parameters.Select((p, i) => TensorCodec.Encode(Trunk.ParameterName(i), p.grad ?? zeros_like(p))).ToArray();
        MtnnTelemetry.StepCompleted(MtnnTelemetry.PhaseName(phase), loss.Rows, started);
        return (loss, gradients);
    }

    /// <summary>
    /// The run's --sync-every batches from <paramref name="step"/> on, each followed by a step of this
    /// worker's own trunk optimizer (local SGD); returns the resulting trunk for the coordinator to average.
    /// </summary>
    public (ShardLoss Loss, TensorData[] Trunk) LocalTrunkSteps(int epoch, int step, int steps, EpochPhase phase, IReadOnlyList<TensorData> trunk)
    {
        var started = Stopwatch.GetTimestamp();
        _trunk.Load(trunk);
        _trunkOptimizer ??= new AdamW(_trunk.Parameters, _spec.Optimizer.LearningRate, _spec.Optimizer.WeightDecay);
        double lossSum = 0;
        long labels = 0;
        var rows = 0;
        for (var s = step; s < Math.Min(steps, step + _spec.Schedule.SyncEvery); s++)
        {
            using var scope = NewDisposeScope();
            var loss = BatchBackward(epoch, s, steps, phase);
            if (loss.Labels > 0) StepOnMeanGradient(_trunk.Parameters, _trunkOptimizer, loss.Labels);
            lossSum += loss.LossSum;
            labels += loss.Labels;
            rows += loss.Rows;
        }
        MtnnTelemetry.StepCompleted(MtnnTelemetry.PhaseName(phase), rows, started);
        return (new ShardLoss(lossSum, labels, rows), _trunk.Export());
    }

    /// <summary>Forward and backward on one batch; trunk gradients are left on the parameters, heads stepped in the joint phase.</summary>
    private ShardLoss BatchBackward(int epoch, int step, int steps, EpochPhase phase)
    {
        var train = _splits[Split.Train];
        var batch = BatchRows(epoch, step, steps, train.Rows.Length);
        ZeroGradients(_trunk.Parameters);
        var index = tensor(batch, device: _device);
        var labels = train.Labels.Batch(batch, index);
        var hidden = _trunk.Forward(train.Features.Rows(index), _spec.Model.Dropout, _dropout);
        var slice = _heads.Slice(labels, trainable: phase == EpochPhase.Joint);
        var perCell = MaskedLoss.PerCell(HeadBlock.Logits(hidden, slice), labels);
        _taskLoss.Add(perCell, labels.Columns);
        var loss = perCell.sum();
        var labelCount = labels.Count;
        loss.backward();
        if (phase == EpochPhase.Joint && labelCount > 0) StepHeads(slice, labelCount);
        return new ShardLoss(loss.item<float>(), labelCount, batch.Length);
    }

    /// <summary>
    /// One head-only epoch (ATE-SG) of <paramref name="steps"/> batches, as many as a trunk-updating epoch takes
    /// (--batch-size means the same in both): the trunk is frozen, so its outputs for this worker's rows are
    /// computed once per trunk version and reused; only the heads see gradients.
    /// </summary>
    public ShardLoss HeadEpoch(int epoch, int steps, long version, IReadOnlyList<TensorData> trunk)
    {
        var started = Stopwatch.GetTimestamp();
        var train = _splits[Split.Train];
        if (_embeddingsVersion != version || _embeddings is null)
        {
            _trunk.Load(trunk);
            _embeddings?.Dispose();
            _embeddings = Inference.Embed(_trunk, train.Features).DetachFromDisposeScope();
            _embeddingsVersion = version;
        }
        var rows = train.Rows.Length;
        using var lossSum = zeros(1, ScalarType.Float64, _device); // summed on the device: no sync per batch
        long labelSum = 0;
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var batch = BatchRows(epoch, step, steps, rows);
            var index = tensor(batch, device: _device);
            var labels = train.Labels.Batch(batch, index);
            if (labels.Count == 0) continue;
            var slice = _heads.Slice(labels, trainable: true);
            var perCell = MaskedLoss.PerCell(HeadBlock.Logits(_embeddings.index_select(0, index), slice), labels);
            _taskLoss.Add(perCell, labels.Columns);
            var loss = perCell.sum();
            loss.backward();
            StepHeads(slice, labels.Count);
            using (no_grad()) lossSum.add_(loss.detach());
            labelSum += labels.Count;
        }
        MtnnTelemetry.StepCompleted(MtnnTelemetry.PhaseName(EpochPhase.Heads), rows, started);
        return new ShardLoss(lossSum.item<double>(), labelSum, rows);
    }

    /// <summary>The touched heads' step on the mean gradient (losses are summed).</summary>
    private void StepHeads(HeadSlice slice, long labelCount)
    {
        using (no_grad())
        using (var count = ((double)labelCount).ToScalar())
        {
            slice.Rows.grad!.div_(count);
            slice.Bias.grad!.div_(count);
        }
        _headOptimizer.Step(slice);
    }

    /// <summary>Losses are summed, so gradients are too: divide by the labels summed over, then step.</summary>
    private static void StepOnMeanGradient(IReadOnlyList<Tensor> parameters, AdamW optimizer, long labelCount)
    {
        using (no_grad())
        using (var count = ((double)labelCount).ToScalar())
            foreach (var p in parameters) p.grad?.div_(count);
        optimizer.Step();
    }

    private static void ZeroGradients(IEnumerable<Tensor> parameters)
    {
        foreach (var p in parameters) p.grad?.zero_();
    }

    /// <summary>
    /// Scores of this worker's tasks on the named splits, with the given trunk. The coordinator scores after every
    /// epoch, so this is where the epoch's per-task training losses are published.
    /// </summary>
    public TaskMetrics[] Evaluate(IReadOnlyList<TensorData> trunk, IEnumerable<Split> splits)
    {
        _taskLoss.Publish(TaskIndices.Select(t => _data.Tasks[t].Name).ToArray());
        _trunk.Load(trunk);
        var tasks = TaskIndices.Select(t => _data.Tasks[t]).ToArray();
        var scales = TaskIndices.Select(t => _data.Scales[t]).ToArray();
        var scores = new List<TaskMetrics>();
        foreach (var split in splits)
        {
            var (predictions, truth, columns) = ScoreCells(_splits[split], tasks, scales);
            // cells grouped by task column (a counting sort), then one metric per task
            var start = new int[TaskIndices.Length + 1];
            foreach (var c in columns) start[c + 1]++;
            for (var j = 0; j < TaskIndices.Length; j++) start[j + 1] += start[j];
            var next = start[..^1];
            var (byTaskPrediction, byTaskTruth) = (new float[columns.Length], new float[columns.Length]);
            for (var k = 0; k < columns.Length; k++)
            {
                var at = next[columns[k]]++;
                (byTaskPrediction[at], byTaskTruth[at]) = (predictions[k], truth[k]);
            }
            for (var j = 0; j < TaskIndices.Length; j++)
            {
                var (from, length) = (start[j], start[j + 1] - start[j]);
                scores.Add(TaskMetrics.Compute(tasks[j].Name, tasks[j].Kind, split, byTaskPrediction.AsSpan(from, length), byTaskTruth.AsSpan(from, length)));
            }
        }
        return scores.ToArray();
    }

    /// <summary>
    /// The prediction (in the data's units), the label and the task column of every labelled cell of a split, in
    /// row order; outputs are computed a chunk of rows at a time and only the labelled cells leave the device.
    /// </summary>
    private (float[] Predictions, float[] Truth, int[] Columns) ScoreCells(SplitRows rows, TaskInfo[] tasks, TargetScale[] scales)
    {
        var (_, columns, truth) = CellsOf(rows.Rows);
        var predictions = new float[truth.Length];
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var embeddings = Inference.Embed(_trunk, rows.Features);
        var units = Inference.DataUnits(tasks, scales, _device);
        var written = 0;
        for (long start = 0; start < rows.Rows.Length; start += Inference.ChunkRows)
        {
            using var chunkScope = NewDisposeScope();
            var length = Math.Min(Inference.ChunkRows, rows.Rows.Length - start);
            var positions = new long[length];
            for (var i = 0; i < length; i++) positions[i] = start + i;
            var index = arange(start, start + length, ScalarType.Int64, _device);
            var batch = rows.Labels.Batch(positions, index);
            var values = units.OfCells(_heads.Logits(embeddings.narrow(0, start, length), batch), batch.Columns).cpu().data<float>();
            values.CopyTo(predictions, written);
            written += (int)values.Count;
        }
        return (predictions, truth, columns);
    }

    public void KeepBestHeads()
    {
        if (_bestHeads is null) _bestHeads = _heads.Clone();
        else _bestHeads.CopyFrom(_heads);
    }

    public void RestoreBestHeads()
    {
        if (_bestHeads is not null) _heads.CopyFrom(_bestHeads);
    }

    public (TensorData Weight, TensorData Bias) ExportHeads() => _heads.Export();

    /// <summary>The heads and their optimizer moments, for the coordinator to hold (task moves, resume).</summary>
    public HeadState SnapshotHeads()
    {
        var (weight, bias) = _heads.Export();
        var steps = _headOptimizer.HeadSteps();
        return new HeadState(TaskIndices, weight, bias, _headOptimizer.ExportMoments(), steps.DefaultIfEmpty().Max(), steps);
    }

    public void Dispose()
    {
        foreach (var split in _splits.Values) split.Dispose();
        _trunk.Dispose();
        _heads.Dispose();
        _bestHeads?.Dispose();
        _headOptimizer.Dispose();
        _trunkOptimizer?.Dispose();
        _embeddings?.Dispose();
        _dropout.Dispose();
        _taskLoss.Dispose();
    }
}
