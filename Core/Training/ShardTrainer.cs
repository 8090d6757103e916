using MtnnCluster.Collectives;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Telemetry;
using MtnnCluster.Training.Run;
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>
/// What a round of steps or a head epoch did on one worker: the loss summed over its tasks' labelled cells and
/// their count, the rows it ran the trunk on, and the bytes it sent to other workers.
/// </summary>
public sealed record ShardLoss(double LossSum, long Labels, int Rows, long BytesSent = 0);

/// <summary>Where a worker's shard starts: the trunk with its optimizer, and its tasks' heads (null: fresh, seeded).</summary>
public sealed record ShardStart(TrunkState? Trunk = null, HeadState? Heads = null, HeadState? BestHeads = null);

/// <summary>
/// The tensor math of one worker in hybrid parallelism: a replica of the trunk (any <see cref="ITrunk"/>), run on this worker's
/// share of the rows (<see cref="RowPlacement"/>); the heads of its own tasks, trained on those tasks' labels of
/// every row. A step takes one global batch (the same rows whatever the number of workers): the row owners run the
/// trunk forward, the embeddings go to the owners of the tasks labelled on them, the head owners return the
/// gradients of their loss, the row owners run the trunk backward, and the trunk gradients are summed over the
/// workers so that every replica takes the same optimizer step. The workers talk through an
/// <see cref="IProcessGroup"/>; with one worker nothing is copied or sent. No actors here: the worker actor drives
/// it, and tests call it directly. Its parts, one job each: the trunk (<see cref="ITrunk"/>: the model and how it
/// stores rows), the split's rows and labels (<see cref="SplitShard"/>), the embedding exchange
/// (<see cref="EmbeddingExchange"/>), the trunk's parallelism (<see cref="DataParallelTrunk"/>), the heads
/// (<see cref="HeadBlock"/>, <see cref="HeadLoss"/>); this class holds the batch order and the step's sequence.
/// </summary>
public sealed class ShardTrainer : IDisposable
{
    private readonly PreparedDataset _data;
    private readonly RunSpec _spec;
    private readonly Device _device;
    private readonly IProcessGroup _group;
    private readonly ITrunk _trunk;
    private readonly DataParallelTrunk _replicas;
    private readonly EmbeddingExchange _exchange;
    private readonly HeadBlock _heads;
    private readonly HeadAdamW _headOptimizer;
    private readonly Generator _dropout;
    private readonly TaskLossTally _taskLoss;
    private readonly Dictionary<Split, SplitShard> _splits = [];
    /// <summary>Dataset task → this worker's column for it, -1 for tasks of other workers.</summary>
    private readonly int[] _column;
    private HeadBlock? _bestHeads;
    private TensorData[]? _bestTrunk;
    private long? _bestVersion;
    // head-only epochs: the (frozen) trunk's outputs of the rows labelled here, computed once per trunk version
    private Tensor? _headInputs;
    private int[] _headInputRow = [];
    private long _headInputsVersion = -1;
    private long[]? _order;
    private int _orderEpoch = -1;

    public int[] TaskIndices { get; }
    public int Rank => _group.Rank;
    /// <summary>Trunk optimizer steps taken (the same on every worker): names the trunk's state.</summary>
    public long Version { get; private set; }
    public int TrainRows => _splits[Split.Train].Own;
    public long TrainLabels { get; }

    /// <summary>What this worker keeps on its device, for the log.</summary>
    public string Residency
    {
        get
        {
            var features = _splits.Values.Sum(s => s.Features.StoredBytes);
            var labels = _splits.Values.Sum(s => s.Labels.StoredBytes);
            return $"features of {_splits.Values.Sum(s => s.Own)} rows {features / 1e6:0.#} MB ({_splits[Split.Train].Features.Layout}), " +
                   $"labels {labels / 1e6:0.#} MB ({_splits.Values.Sum(s => s.Labels.Count)} labelled cells) on the device";
        }
    }

    public ShardTrainer(PreparedDataset data, RunSpec spec, ShardLayout layout, IProcessGroup group, Device device, ShardStart? start = null)
    {
        if (layout.Rank != group.Rank || layout.Size != group.Size)
            throw new ArgumentException($"layout rank {layout.Rank} of {layout.Size}, group rank {group.Rank} of {group.Size}");
        if (layout.TaskRanks.Length != data.TaskCount)
            throw new InvalidDataException($"task placement names {layout.TaskRanks.Length} tasks, the dataset has {data.TaskCount}");
        PrecisionMode.Apply(spec.Precision, device);
        start ??= new ShardStart();
        _data = data;
        _spec = spec;
        _device = device;
        _group = group;
        TaskIndices = layout.OwnTasks();
        _column = Enumerable.Repeat(-1, data.TaskCount).ToArray();
        for (var j = 0; j < TaskIndices.Length; j++) _column[TaskIndices[j]] = j;
        _trunk = Trunks.Create(spec, data.FeatureSize, device);
        var positiveWeights = PositiveWeights();
        foreach (var split in new[] { Split.Train, Split.Valid, Split.Test })
            _splits[split] = LoadSplit(split switch { Split.Train => data.Split.Train, Split.Valid => data.Split.Valid, _ => data.Split.Test }, layout, positiveWeights);
        TrainLabels = _splits[Split.Train].Labels.Count;
        _replicas = new DataParallelTrunk(_trunk, group, device, spec.Optimizer, spec.Schedule.SyncEvery);
        _exchange = new EmbeddingExchange(group, device, spec.Wire, _trunk.OutputSize);
        if (start.Trunk is { } trunk)
        {
            _trunk.Load(trunk.Parameters);
            _replicas.Optimizer.ImportMoments(trunk.Moments, trunk.OptimizerSteps);
            (Version, _bestTrunk, _bestVersion) = (trunk.Version, trunk.Best, trunk.BestVersion);
        }
        _heads = start.Heads is null ? new HeadBlock(spec.Model.Layers[^1], TaskIndices, spec.Seed, device) : HeadsFrom(start.Heads, device);
        _headOptimizer = new HeadAdamW(_heads, spec.Optimizer.LearningRate, spec.Optimizer.WeightDecay);
        if (start.Heads?.Moments is { } moments) _headOptimizer.ImportMoments(moments, start.Heads.StepsPerHead());
        if (start.BestHeads is not null) _bestHeads = HeadsFrom(start.BestHeads, device);
        _dropout = new Generator(0, device);
        _taskLoss = new TaskLossTally(TaskIndices.Length, device);
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

    private SplitShard LoadSplit(int[] rows, ShardLayout layout, float[] positiveWeights)
    {
        var (start, end) = RowPlacement.Range(rows.Length, layout.SlotsByRank, layout.Rank);
        var owners = RowPlacement.Owners(rows.Length, layout.SlotsByRank);
        var (labelledBy, labelledHere, cells) = (new int[rows.Length][], new bool[rows.Length], new int[rows.Length]);
        var ranks = new SortedSet<int>();
        for (var p = 0; p < rows.Length; p++)
        {
            ranks.Clear();
            var tasks = _data.Labels.TasksOf(rows[p]);
            foreach (var task in tasks)
                if (layout.TaskRanks[task] >= 0) ranks.Add(layout.TaskRanks[task]);
            labelledBy[p] = [.. ranks];
            labelledHere[p] = ranks.Contains(layout.Rank);
            cells[p] = tasks.Length;
        }
        var (rowStart, columns, labels) = CellsOf(rows);
        var targets = new float[labels.Length];
        for (var k = 0; k < labels.Length; k++)
        {
            var scale = _data.Scales[TaskIndices[columns[k]]];
            targets[k] = (float)((labels[k] - scale.Mean) / scale.Std);
        }
        var regression = TaskIndices.Select(t => _data.Tasks[t].Kind == TaskKind.Regression).ToArray();
        var deviceLabels = new DeviceLabels(rowStart, columns, targets, regression, positiveWeights, _device, TaskIndices.Select(t => _data.TaskWeights[t]).ToArray());
        var features = _trunk.Store(_data.Inputs, rows[start..end], _device);
        return new SplitShard(rows, start, end, owners, labelledBy, labelledHere, cells, features, deviceLabels);
    }

    /// <summary>
    /// The cells of <paramref name="rows"/> labelled for this worker's tasks, in row order (the order of the device
    /// store): row offsets, this worker's column of each cell's task, and its label as in the data.
    /// </summary>
    private (long[] RowStart, int[] Columns, float[] Labels) CellsOf(IReadOnlyList<int> rows)
    {
        var rowStart = new long[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++)
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

    /// <summary>
    /// The training positions of batch <paramref name="step"/> of an epoch: one seeded shuffle of all training rows
    /// cut into equal parts, the same on every worker and for any number of workers.
    /// </summary>
    private long[] BatchPositions(int epoch, int step, int steps)
    {
        var count = _splits[Split.Train].Count;
        if (_order is null || _orderEpoch != epoch)
        {
            _order = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            new SplitMix64(SeededInit.Mix(_spec.Seed, 0xBA7C, epoch)).Shuffle(_order);
            _orderEpoch = epoch;
        }
        var start = (int)((long)step * count / steps);
        var end = (int)((long)(step + 1) * count / steps);
        return _order[start..end];
    }

    private EmbeddingRoute RouteOf(SplitShard split, IReadOnlyList<long> positions) => _exchange.RouteOf(split, positions);

    /// <summary>Every position of a split, in order (evaluation and head epochs send every labelled row once).</summary>
    private static long[] AllPositions(SplitShard split) => Enumerable.Range(0, split.Count).Select(p => (long)p).ToArray();

    /// <summary>
    /// The run's steps <paramref name="step"/>..+<paramref name="count"/> of <paramref name="steps"/>. In the joint
    /// phase heads and trunk step; in the trunk phase the heads stay frozen. With --sync-every K &gt; 1 each replica
    /// steps on its own gradient and the replicas are averaged every K steps (local SGD).
    /// </summary>
    public ShardLoss TrainSteps(int epoch, EpochPhase phase, int step, int count, int steps)
    {
        var started = Stopwatch.GetTimestamp();
        var bytesBefore = _group.BytesSent;
        var every = _spec.Schedule.SyncEvery;
        using var lossSum = zeros(1, ScalarType.Float64, _device); // summed on the device: no sync per step
        long labels = 0;
        var rows = 0;
        for (var s = step; s < step + count; s++)
        {
            using var scope = NewDisposeScope();
            var (cells, own) = Step(epoch, s, steps, phase, every > 1, lossSum);
            labels += cells;
            rows += own;
            if (every > 1 && ((s + 1) % every == 0 || s + 1 == steps)) _replicas.AverageReplicas();
        }
        MtnnTelemetry.StepCompleted(MtnnTelemetry.PhaseName(phase), rows, started);
        return new ShardLoss(lossSum.item<double>(), labels, rows, _group.BytesSent - bytesBefore);
    }

    /// <summary>One step; returns the cells of this worker's tasks it was scored on and the rows it ran the trunk on.</summary>
    private (long Cells, int Rows) Step(int epoch, int step, int steps, EpochPhase phase, bool local, Tensor lossSum)
    {
        var train = _splits[Split.Train];
        var batch = BatchPositions(epoch, step, steps);
        var route = RouteOf(train, batch);
        ClearGradients(_trunk.Parameters);

        // trunk forward on this worker's rows of the batch, dropout drawn for the whole batch
        Tensor? hidden = null;
        if (route.OwnRows > 0)
        {
            _dropout.manual_seed(SeededInit.Mix(_spec.Seed, 0xD509, epoch, step));
            var rows = route.OwnRows == batch.Length ? null : tensor(route.OwnAt, device: _device); // alone: the whole batch
            var stored = route.OwnAt.Select(at => batch[at] - train.Start).ToArray(); // positions in this worker's store
            hidden = _trunk.Forward(train.Features, stored, new BatchDropout(_dropout, batch.Length, rows));
        }

        // this worker's tasks: loss on the embeddings of the batch rows they label, from whichever worker computed them
        var (input, positions) = _exchange.SendEmbeddings(route, hidden?.detach());
        var inputs = input.detach().requires_grad_(true);
        long batchCells = 0;
        foreach (var p in batch) batchCells += train.Cells[p];
        var cells = train.Labels.Batch(positions, tensor(positions, device: _device));
        Tensor? inputGradient = null;
        if (cells.Count > 0)
        {
            // the batch's mean loss over every worker's cells: each worker's share divided by their total, so the
            // gradients it backpropagates (heads, embeddings, then the trunk's) need no division afterwards
            var (perCell, hiddenGradient) = HeadStep(inputs, cells, 1.0 / batchCells, stepHeads: phase == EpochPhase.Joint);
            inputGradient = hiddenGradient;
            _taskLoss.Add(perCell, cells.Columns);
            using (no_grad()) lossSum.add_(perCell.sum());
        }

        // the gradients with respect to the embeddings go back to the rows' owners, then the trunk's backward
        var gradient = _exchange.SendGradients(route, inputGradient ?? zeros_like(inputs));
        if (hidden is not null) hidden.backward([gradient]);
        var gradients = _trunk.Parameters.Select(p => p.grad ?? zeros_like(p)).ToArray();
        if (local)
        {
            // a replica alone steps on the mean over its own rows' cells
            long ownCells = 0;
            foreach (var at in route.OwnAt) ownCells += train.Cells[batch[at]];
            _replicas.StepLocal(gradients, ownCells, batchCells);
        }
        else if (batchCells > 0) _replicas.Step(gradients); // every worker knows the batch's cells: all skip together
        Version++; // every worker counts every step, stepped or not: decisions keyed on the version agree
        return (cells.Count, route.OwnRows);
    }

    /// <summary>
    /// The loss of a batch's <paramref name="cells"/> on <paramref name="inputs"/> and, with
    /// <paramref name="stepHeads"/>, one optimizer step of the heads they label; returns each cell's loss and, where
    /// <paramref name="inputs"/> requires grad, the gradient of <paramref name="scale"/> × their sum with respect to
    /// it. On host memory with few cells, one pass that steps each head in place; otherwise a slice of the labelled
    /// heads, autograd and the lazy AdamW. Call inside a dispose scope.
    /// </summary>
    private HeadLoss.Result HeadStep(Tensor inputs, LabelCells cells, double scale, bool stepHeads)
    {
        if (HeadLoss.TryStepOnHost(inputs.detach(), _heads, cells, scale, stepHeads ? _headOptimizer : null, inputs.requires_grad) is { } host)
            return host;
        var slice = _heads.Slice(cells, trainable: stepHeads);
        var result = HeadLoss.Compute(inputs, slice, cells, scale, headGradients: stepHeads);
        if (stepHeads) _headOptimizer.Step(slice);
        return result;
    }

    /// <summary>
    /// One head-only epoch (ATE-SG) of <paramref name="steps"/> batches, as many as a trunk-updating epoch takes:
    /// the trunk is frozen, so the embeddings of the rows labelled here are computed (data-parallel) and sent once
    /// per trunk version; then only this worker's heads train, with no traffic. On host memory the heads train head
    /// by head (<see cref="HeadLoss.TryEpochOnHost"/>), which gives the heads a step-by-step loop gives.
    /// </summary>
    public ShardLoss HeadEpoch(int epoch, int steps)
    {
        var started = Stopwatch.GetTimestamp();
        var bytesBefore = _group.BytesSent;
        var train = _splits[Split.Train];
        var trunkRows = 0;
        if (_headInputsVersion != Version || _headInputs is null)
        {
            using var scope = NewDisposeScope();
            var route = RouteOf(train, AllPositions(train));
            var (inputs, positions) = _exchange.SendEmbeddings(route, _trunk.Embed(train.Features));
            _headInputs?.Dispose();
            _headInputs = inputs.clone().DetachFromDisposeScope();
            _headInputRow = Enumerable.Repeat(-1, train.Count).ToArray();
            for (var i = 0; i < positions.Length; i++) _headInputRow[positions[i]] = i;
            _headInputsVersion = Version;
            trunkRows = route.OwnRows;
        }
        var batches = new HeadEpochCells.StepRows[steps];
        for (var step = 0; step < steps; step++)
        {
            var batch = BatchPositions(epoch, step, steps);
            long batchCells = 0;
            var (at, positions) = (new List<int>(), new List<long>());
            foreach (var p in batch)
            {
                batchCells += train.Cells[p];
                if (_headInputRow[p] < 0) continue;
                at.Add(_headInputRow[p]);
                positions.Add(p);
            }
            batches[step] = new(positions.ToArray(), at.ToArray(), batchCells);
        }
        double lossSum = 0;
        long labelSum = 0;
        // windows of steps of boundedly many cells, each head-major where it can be, else step by step: either way
        // each head takes its steps in order, so the heads come out the same
        foreach (var (from, to) in HeadEpochCells.Windows(batches, MaxWindowCells))
        {
            var window = batches[from..to];
            var (loss, labels) = HeadsHeadMajor(window) ?? HeadsStepByStep(window);
            (lossSum, labelSum) = (lossSum + loss, labelSum + labels);
        }
        MtnnTelemetry.StepCompleted(MtnnTelemetry.PhaseName(EpochPhase.Heads), trunkRows, started);
        return new ShardLoss(lossSum, labelSum, trunkRows, _group.BytesSent - bytesBefore);
    }

    /// <summary>A head-major window's most cells (~17 bytes each while it trains).</summary>
    private const long MaxWindowCells = 1 << 22;

    /// <summary>Head-only steps on the host, head by head (<see cref="HeadLoss.TryEpochOnHost"/>); null where that does not apply.</summary>
    private (double Loss, long Labels)? HeadsHeadMajor(HeadEpochCells.StepRows[] batches)
    {
        if (_headInputs is null || _splits[Split.Train].Labels.EpochCellsOnHost(batches) is not { } cells) return null;
        if (HeadLoss.TryEpochOnHost(_headInputs, _heads, cells, _headOptimizer) is not { } trained) return null;
        _taskLoss.AddSums(trained.Loss, trained.Cells);
        return (trained.Loss.Sum(), cells.Count);
    }

    /// <summary>Head-only steps one after another, each a <see cref="HeadStep"/> on the batch's cells.</summary>
    private (double Loss, long Labels) HeadsStepByStep(HeadEpochCells.StepRows[] batches)
    {
        var train = _splits[Split.Train];
        using var lossSum = zeros(1, ScalarType.Float64, _device);
        long labelSum = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var cells = train.Labels.Batch(batch.Positions, tensor(batch.Positions, device: _device));
            if (cells.Count == 0) continue;
            var inputs = _headInputs!.index_select(0, tensor(batch.EmbeddingRows, device: _device).to(ScalarType.Int64));
            var perCell = HeadStep(inputs, cells, batch.Scale, stepHeads: true).PerCell;
            _taskLoss.Add(perCell, cells.Columns);
            using (no_grad()) lossSum.add_(perCell.sum());
            labelSum += cells.Count;
        }
        return (lossSum.item<double>(), labelSum);
    }

    /// <summary>
    /// Drops the last step's gradients, as PyTorch's zero_grad(set_to_none) does: backward then writes the new
    /// gradient instead of zeroing 17 MB and adding to it (the allocator hands the same memory back).
    /// </summary>
    private static void ClearGradients(IEnumerable<Tensor> parameters)
    {
        foreach (var p in parameters) p.grad = null;
    }

    /// <summary>
    /// Scores of this worker's tasks on the named splits, data-parallel as a step: each worker embeds its own rows,
    /// the head owners score. The coordinator scores after every epoch, so this is where the epoch's per-task
    /// training losses are published.
    /// </summary>
    public TaskMetrics[] Evaluate(IEnumerable<Split> splits)
    {
        _taskLoss.Publish(TaskIndices.Select(t => _data.Tasks[t].Name).ToArray());
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
    /// The prediction (in the data's units), the label and the task column of every cell of a split labelled for
    /// this worker's tasks; outputs are computed a chunk of rows at a time and only the labelled cells leave the device.
    /// </summary>
    private (float[] Predictions, float[] Truth, int[] Columns) ScoreCells(SplitShard split, TaskInfo[] tasks, TargetScale[] scales)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var route = RouteOf(split, AllPositions(split));
        var (embeddings, positions) = _exchange.SendEmbeddings(route, _trunk.Embed(split.Features));
        var (_, columns, truth) = CellsOf(positions.Select(p => split.Rows[p]).ToArray());
        var predictions = new float[truth.Length];
        var units = Inference.DataUnits(tasks, scales, _device);
        var written = 0;
        for (var start = 0; start < positions.Length; start += Inference.ChunkRows)
        {
            using var chunkScope = NewDisposeScope();
            var length = Math.Min(Inference.ChunkRows, positions.Length - start);
            var chunk = positions[start..(start + length)];
            var batch = split.Labels.Batch(chunk, tensor(chunk, device: _device));
            var values = units.OfCells(_heads.Logits(embeddings.narrow(0, start, length), batch), batch.Columns).cpu().data<float>();
            values.CopyTo(predictions, written);
            written += (int)values.Count;
        }
        return (predictions, truth, columns);
    }

    /// <summary>The trunk, its optimizer and its best copy, as the coordinator keeps them for snapshots and checkpoints.</summary>
    /// <remarks>A collective: every worker calls it at the same point (the optimizer's moments are gathered first).</remarks>
    public TrunkState SnapshotTrunk()
    {
        _replicas.GatherOptimizerState();
        return new(_trunk.Export(), _replicas.Optimizer.ExportMoments(), _replicas.Optimizer.StepCount, Version, _bestTrunk, _bestVersion);
    }

    /// <summary>The current trunk and heads are the best so far (early stopping): keep a copy.</summary>
    public void KeepBest()
    {
        (_bestTrunk, _bestVersion) = (_trunk.Export(), Version);
        if (_bestHeads is null) _bestHeads = _heads.Clone();
        else _bestHeads.CopyFrom(_heads);
    }

    public void RestoreBest()
    {
        if (_bestTrunk is not null) _trunk.Load(_bestTrunk);
        if (_bestHeads is not null) _heads.CopyFrom(_bestHeads);
        _headInputsVersion = -1;
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
        _replicas.Dispose();
        _heads.Dispose();
        _bestHeads?.Dispose();
        _headOptimizer.Dispose();
        _headInputs?.Dispose();
        _dropout.Dispose();
        _taskLoss.Dispose();
    }
}
