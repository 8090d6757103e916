using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator.Output;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator.Actors;

/// <summary>A training job as the coordinator receives it.</summary>
public sealed record TrainJob(string RunId, RunSpec Spec, string OutDirectory, int MinWorkers);

/// <summary>
/// The coordinator: waits for workers, shards tasks across them, drives the schedule epoch by epoch, reduces
/// trunk gradients into the master trunk, tracks early stopping, and writes the checkpoint and metrics. Every
/// exchange with the workers is a round: one request to each worker, and the continuation runs when all have
/// answered. The math is in <see cref="TrunkMaster"/>; this actor holds state and makes decisions.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor
{
    private sealed record WorkerHandle(string WorkerId, IActorRef Ref, string Device, int Slots);

    private sealed class Round(string kind, int epoch, int step, IReadOnlyCollection<string> workers, Action<IReadOnlyList<IRunMessage>> complete)
    {
        public string Kind { get; } = kind;
        public int Epoch { get; } = epoch;
        public int Step { get; } = step;
        public SortedDictionary<string, IRunMessage> Replies { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Waiting { get; } = [.. workers];
        public Action<IReadOnlyList<IRunMessage>> Complete { get; } = complete;
    }

    private readonly TrainJob _job;
    private readonly ITrainingObserver _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, WorkerHandle> _workers = new(StringComparer.Ordinal);
    private readonly Stopwatch _wall = new();
    private readonly List<EpochReport> _history = [];
    private readonly ChunkedDelivery _delivery = new((ExtendedActorSystem)Context.System);
    private readonly ChunkAssembler _assembler = new((ExtendedActorSystem)Context.System);

    private PreparedDataset? _data;
    private TrunkMaster? _trunk;
    private IReadOnlyDictionary<string, int[]> _assignment = new Dictionary<string, int[]>();
    private Round? _round;
    private bool _started;

    // the epoch in progress
    private readonly Stopwatch _epochClock = new();
    private double _epochLoss;
    private long _epochLabels, _epochRows;

    // early stopping
    private double _bestScore = double.NegativeInfinity;
    private int _bestEpoch;

    public CoordinatorActor(TrainJob job, ITrainingObserver observer)
    {
        _job = job;
        _observer = observer;

        Receive<RegisterWorker>(OnRegister);
        Receive<MessageChunk>(chunk =>
        {
            if (_assembler.Add(chunk, Sender, _job.RunId) is { } whole) Self.Tell(whole, Sender);
        });
        Receive<BlobOffer>(offer => _delivery.Fetch(offer, Self, Sender, _job.RunId));
        Receive<IRunMessage>(m => m.RunId != _job.RunId, m => _log.Warning("dropped {0} from a foreign run {1}", m.GetType().Name, m.RunId));
        Receive<WorkerFailed>(m => Fail(new InvalidOperationException($"worker {m.WorkerId} failed: {m.Reason}")));
        Receive<WorkerReady>(m => Answer("ready", 0, 0, m.WorkerId, m));
        Receive<TrunkGradient>(m => Answer("step", m.Epoch, m.Step, m.WorkerId, m));
        Receive<LocalTrunk>(m => Answer("local", m.Epoch, m.Step, m.WorkerId, m));
        Receive<HeadEpochDone>(m => Answer("heads", m.Epoch, 0, m.WorkerId, m));
        Receive<EvaluationResult>(m => Answer("eval", m.Epoch, 0, m.WorkerId, m));
        Receive<HeadShard>(m => Answer("fetch", 0, 0, m.WorkerId, m));
        Receive<Terminated>(t => OnWorkerLost(t.ActorRef));
    }

    protected override void PostStop()
    {
        _trunk?.Dispose();
        base.PostStop();
    }

    private void OnRegister(RegisterWorker register)
    {
        Sender.Tell(new WorkerRegistered(register.WorkerId));
        if (_workers.ContainsKey(register.WorkerId)) return;
        if (_started)
        {
            _log.Info("worker {0} joined after the start; it will take part in the next run", register.WorkerId);
            return;
        }
        _workers[register.WorkerId] = new WorkerHandle(register.WorkerId, Sender, register.Device, Math.Max(1, register.Slots));
        Context.Watch(Sender);
        _observer.Info($"worker {register.WorkerId} registered ({register.Device}, {register.Slots} slot(s)); {_workers.Count}/{_job.MinWorkers}");
        if (_workers.Count >= _job.MinWorkers) StartRun();
    }

    private void OnWorkerLost(IActorRef worker)
    {
        var lost = _workers.Values.FirstOrDefault(w => w.Ref.Equals(worker));
        if (lost is null) return;
        Fail(new InvalidOperationException($"worker {lost.WorkerId} was lost during the run"));
    }

    private void StartRun()
    {
        _started = true;
        _wall.Start();
        try
        {
            _data = PreparedDataset.Load(_job.Spec, w => _log.Warning(w));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or DataFormatException)
        {
            Fail(e);
            return;
        }
        _observer.Info($"{_data.Path}: {_data.RowCount} rows ({_data.InvalidSmiles} invalid SMILES skipped), {_data.TaskCount} tasks; " +
                       $"split {_job.Spec.Split.Kind}: {_data.Split.Train.Length}/{_data.Split.Valid.Length}/{_data.Split.Test.Length}");
        var labelsPerTask = Enumerable.Range(0, _data.TaskCount)
            .Select(t => (long)_data.Split.Train.Count(r => !float.IsNaN(_data.Label(r, t)))).ToArray();
        _assignment = TaskAssignment.Balance(labelsPerTask, _workers.Values.OrderBy(w => w.WorkerId, StringComparer.Ordinal)
            .Select(w => new WorkerSlot(w.WorkerId, w.Slots)).ToArray());
        _trunk = new TrunkMaster(_data.FeatureSize, _job.Spec);
        foreach (var (id, tasks) in _assignment)
            _observer.Info($"worker {id}: {tasks.Length} tasks, {tasks.Sum(t => labelsPerTask[t])} training labels");
        StartRound("ready", 0, 0, w => new StartRun(_job.RunId, _job.Spec, _assignment[w]), _ => BeginEpoch(1));
    }

    private void BeginEpoch(int epoch)
    {
        _epochClock.Restart();
        _epochLoss = 0;
        _epochLabels = _epochRows = 0;
        var phase = _job.Spec.PhaseOf(epoch);
        if (phase == EpochPhase.Heads)
        {
            StartRound("heads", epoch, 0, _ => new HeadEpoch(_job.RunId, epoch, _trunk!.Version, _trunk.Parameters), replies =>
            {
                foreach (var done in replies.Cast<HeadEpochDone>()) Accumulate(done.LossSum, done.Labels, done.Rows);
                EndEpoch(epoch, phase);
            });
            return;
        }
        var steps = Math.Max(1, (_data!.Split.Train.Length + _job.Spec.Optimizer.BatchSize - 1) / _job.Spec.Optimizer.BatchSize);
        RunStep(epoch, phase, 0, steps);
    }

    private void RunStep(int epoch, EpochPhase phase, int step, int steps)
    {
        var syncEvery = _job.Spec.Schedule.SyncEvery;
        if (syncEvery > 1)
        {
            StartRound("local", epoch, step, _ => new TrunkStep(_job.RunId, epoch, step, steps, phase, _trunk!.Version, _trunk.Parameters, syncEvery), replies =>
            {
                var trunks = replies.Cast<LocalTrunk>().ToArray();
                foreach (var t in trunks) Accumulate(t.LossSum, t.Labels, t.Rows);
                _trunk!.Average(trunks);
                if (step + syncEvery < steps) RunStep(epoch, phase, step + syncEvery, steps);
                else EndEpoch(epoch, phase);
            });
            return;
        }
        StartRound("step", epoch, step, _ => new TrunkStep(_job.RunId, epoch, step, steps, phase, _trunk!.Version, _trunk.Parameters), replies =>
        {
            var gradients = replies.Cast<TrunkGradient>().ToArray();
            foreach (var g in gradients) Accumulate(g.LossSum, g.Labels, g.Rows);
            _trunk!.ApplyGradients(gradients);
            if (step + 1 < steps) RunStep(epoch, phase, step + 1, steps);
            else EndEpoch(epoch, phase);
        });
    }

    private void Accumulate(double loss, long labels, long rows)
    {
        _epochLoss += loss;
        _epochLabels += labels;
        _epochRows += rows;
    }

    private void EndEpoch(int epoch, EpochPhase phase)
    {
        var trainSeconds = _epochClock.Elapsed.TotalSeconds;
        StartRound("eval", epoch, 0, _ => new Evaluate(_job.RunId, epoch, _trunk!.Version, ["valid"], _trunk.Parameters), replies =>
        {
            var scores = replies.Cast<EvaluationResult>().SelectMany(e => e.Scores).ToArray();
            var validScore = ValidationScore(scores);
            var improved = validScore > _bestScore || _bestEpoch == 0;
            if (improved)
            {
                _bestScore = validScore;
                _bestEpoch = epoch;
                _trunk!.KeepBest();
                Broadcast(new KeepBestHeads(_job.RunId, epoch));
            }
            var report = new EpochReport(epoch, _job.Spec.Schedule.Epochs, phase,
                _epochLabels > 0 ? _epochLoss / _epochLabels : double.NaN, validScore,
                MetricSummary.Mean(scores.Where(s => !s.Regression).Select(ToMetrics), m => m.RocAuc),
                trainSeconds, _epochRows / Math.Max(trainSeconds, 1e-9), improved);
            _history.Add(report);
            _observer.EpochCompleted(report);
            var patience = _job.Spec.Schedule.Patience;
            var stop = epoch >= _job.Spec.Schedule.Epochs || (patience > 0 && epoch - _bestEpoch >= patience);
            if (stop) Finish();
            else BeginEpoch(epoch + 1);
        });
    }

    /// <summary>The early-stopping score: mean validation ROC-AUC of classification tasks and R² of regression ones.</summary>
    private static double ValidationScore(IEnumerable<TaskScore> scores)
    {
        var values = scores.Select(s => s.Regression ? s.R2 : s.RocAuc).Where(v => !double.IsNaN(v)).ToArray();
        return values.Length == 0 ? double.NaN : values.Average();
    }

    private static TaskMetrics ToMetrics(TaskScore s) =>
        new(s.Task, s.Regression ? TaskKind.Regression : TaskKind.Classification, s.Split, s.Labelled, s.Positives,
            s.RocAuc, s.PrcAuc, s.Rmse, s.Mae, s.R2, !s.Regression && double.IsNaN(s.RocAuc));

    private void Finish()
    {
        _trunk!.RestoreBest();
        Broadcast(new RestoreBestHeads(_job.RunId));
        StartRound("eval", 0, 0, _ => new Evaluate(_job.RunId, 0, _trunk.Version, ["train", "valid", "test"], _trunk.Parameters), evaluations =>
        {
            var scores = evaluations.Cast<EvaluationResult>().SelectMany(e => e.Scores).ToArray();
            StartRound("fetch", 0, 0, _ => new FetchHeads(_job.RunId), shards =>
            {
                var (weight, bias) = HeadAssembly.Merge(shards.Cast<HeadShard>().ToArray(), _data!.TaskCount);
                var outcome = new RunOutcome(_job.RunId, _job.Spec, _data, _history, _bestEpoch, scores,
                    _assignment.Select(a => new WorkerAssignment(a.Key, _workers[a.Key].Ref.Path.Address.ToString(), _workers[a.Key].Device, _workers[a.Key].Slots, a.Value)).ToArray(),
                    _trunk.Parameters, weight, bias, _wall.Elapsed.TotalSeconds);
                try
                {
                    RunWriter.Write(_job.OutDirectory, outcome);
                }
                catch (IOException e)
                {
                    Fail(e);
                    return;
                }
                Broadcast(new EndRun(_job.RunId));
                if (_delivery.Summary is { } exchange) _observer.Info(exchange);
                _observer.Completed(outcome);
            });
        });
    }

    private void StartRound(string kind, int epoch, int step, Func<string, IMtnnMessage> request, Action<IReadOnlyList<IRunMessage>> complete)
    {
        _round = new Round(kind, epoch, step, _assignment.Keys.ToArray(), complete);
        foreach (var id in _assignment.Keys) _delivery.Send(_workers[id].Ref, request(id), Self);
    }

    private void Answer(string kind, int epoch, int step, string workerId, IRunMessage reply)
    {
        var round = _round;
        if (round is null || round.Kind != kind || round.Epoch != epoch || round.Step != step || !round.Waiting.Remove(workerId))
        {
            _log.Debug("dropped a stale {0} from {1} (epoch {2}, step {3})", kind, workerId, epoch, step);
            return;
        }
        round.Replies[workerId] = reply;
        if (round.Waiting.Count > 0) return;
        _round = null;
        try
        {
            round.Complete(round.Replies.Values.ToArray());
        }
        catch (Exception e)
        {
            Fail(e); // a run that cannot go on must end with its error, never wait for a reply that will not come
        }
    }

    private void Broadcast(IMtnnMessage message)
    {
        foreach (var id in _assignment.Keys) _delivery.Send(_workers[id].Ref, message, Self);
    }

    private void Fail(Exception error)
    {
        if (error is DataFormatException or InvalidDataException or IOException or ArgumentException)
            _log.Error("run {0} failed: {1}", _job.RunId, error.Message); // the user's input: the message says it all
        else
            _log.Error(error, "run {0} failed", _job.RunId);
        _round = null;
        foreach (var worker in _workers.Values) _delivery.Send(worker.Ref, new EndRun(_job.RunId), Self); // assigned or not
        _observer.Failed(error);
    }
}
