using System.Diagnostics;
using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator.Output;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;
using MtnnCluster.Telemetry;
using MtnnCluster.Training;
using MtnnCluster.Transport;

namespace MtnnCluster.Coordinator.Actors;

/// <summary>Continue a run from the training checkpoints under <see cref="Directory"/>/checkpoints; <see cref="Required"/>: fail when there is none.</summary>
public sealed record ResumeFrom(string Directory, bool Required);

/// <summary>A training job as the coordinator receives it.</summary>
public sealed record TrainJob(string RunId, RunSpec Spec, string OutDirectory, int MinWorkers, CheckpointPolicy? Checkpoints = null, ResumeFrom? Resume = null)
{
    public CheckpointPolicy CheckpointPolicy => Checkpoints ?? new CheckpointPolicy();
}

/// <summary>
/// The coordinator: waits for workers, shards tasks across them, drives the schedule epoch by epoch, reduces
/// trunk gradients into the master trunk, tracks early stopping, and writes the checkpoint and metrics. Every
/// exchange with the workers is a round: one request to each worker, and the continuation runs when all have
/// answered. The math is in <see cref="TrunkMaster"/>; this actor holds state and makes decisions.
/// <para>
/// Faults: at every epoch end the workers' heads come back with their scores, and the coordinator keeps a
/// snapshot (trunk, optimizer, heads, early-stopping state), written as a training checkpoint every N epochs.
/// When a worker is lost (unreachable, removed, or leaving on SIGTERM), the epoch in progress is abandoned, the
/// lost worker's tasks move to the others, and the epoch starts again from the snapshot; a worker that joins
/// is given tasks at the next epoch end. Each deployment of tasks is an attempt with its own wire id
/// (<c>run~attempt</c>), so a reply computed before the change is dropped as foreign.
/// </para>
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

    /// <summary>The run as of an epoch end: everything needed to go on from <see cref="NextEpoch"/> with any set of workers.</summary>
    private sealed record Snapshot(int NextEpoch, TrunkState Trunk, HeadStore? Heads, HeadStore? BestHeads, int BestEpoch, double BestScore, EpochReport[] History)
    {
        public bool OnDisk { get; set; }
    }

    /// <summary>Asked by CoordinatedShutdown (SIGTERM): write the latest snapshot if it is not on disk yet.</summary>
    private sealed class FlushCheckpoint : INoSerializationVerificationNeeded
    {
        public static readonly FlushCheckpoint Instance = new();
    }

    private readonly TrainJob _job;
    private readonly ITrainingObserver _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, WorkerHandle> _workers = new(StringComparer.Ordinal);
    // unreachable workers: their tasks have moved, but they may come back (a starved or paused node) rather than be downed
    private readonly Dictionary<string, WorkerHandle> _suspects = new(StringComparer.Ordinal);
    private readonly Stopwatch _wall = new();
    private readonly List<RunEvent> _events = [];
    private readonly List<int> _awaitingRecovery = [];
    private readonly ChunkedDelivery _delivery = new((ExtendedActorSystem)Context.System);
    private readonly ChunkAssembler _assembler = new((ExtendedActorSystem)Context.System);
    private readonly RunTrace _trace;

    private string _runId;
    private int _attempt;
    /// <summary>Messages dropped: another run's or attempt's, stale, or not from the worker they name.</summary>
    public long Dropped { get; private set; }
    private PreparedDataset? _data;
    private long[] _labelsPerTask = [];
    private TrunkMaster? _trunk;
    private IReadOnlyDictionary<string, int[]> _assignment = new Dictionary<string, int[]>();
    private HashSet<string> _placed = []; // the workers the current assignment was made for (some may have got no task)
    private Round? _round;
    private bool _started, _finished;
    private Snapshot? _snapshot;
    private TrainingCheckpoint? _resumeFrom;
    private HeadStore? _heads, _bestHeads;
    private List<EpochReport> _history = [];

    // the epoch in progress
    private readonly Stopwatch _epochClock = new();
    private double _epochLoss;
    private long _epochLabels, _epochRows;

    // early stopping
    private double _bestScore = double.NegativeInfinity;
    private int _bestEpoch;

    private string WireId => $"{_runId}~{_attempt}";
    private string CheckpointsDirectory => Path.Combine(_job.OutDirectory, TrainingCheckpoint.DirectoryName);

    public CoordinatorActor(TrainJob job, ITrainingObserver observer)
    {
        _job = job;
        _observer = observer;
        _runId = job.RunId;
        _trace = new RunTrace(job.RunId);

        Receive<RegisterWorker>(OnRegister);
        Receive<WorkerLeaving>(m => OnWorkerLost(w => w.WorkerId == m.WorkerId && w.Ref.Equals(Sender), "worker_left"));
        Receive<ClusterEvent.UnreachableMember>(m => OnWorkerLost(w => w.Ref.Path.Address.Equals(m.Member.Address), "worker_lost", suspect: true));
        Receive<ClusterEvent.ReachableMember>(m => OnWorkerBack(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => OnWorkerLost(w => w.Ref.Path.Address.Equals(m.Member.Address), "worker_lost"));
        Receive<Terminated>(t => OnWorkerLost(w => w.Ref.Equals(t.ActorRef), "worker_lost"));
        Receive<FlushCheckpoint>(_ =>
        {
            if (_snapshot is { OnDisk: false, NextEpoch: > 1 } && !_finished) WriteCheckpoint(_snapshot, "shutting down");
            Sender.Tell(Done.Instance);
        });
        Receive<MessageChunk>(chunk =>
        {
            if (_assembler.Add(chunk, Sender, WireId) is { } whole) Self.Tell(whole, Sender);
        });
        Receive<BlobOffer>(offer => _delivery.Fetch(offer, Self, Sender, WireId));
        Receive<IRunMessage>(m => m.RunId != WireId, m => { Dropped++; _log.Debug("dropped {0} from another run or attempt {1}", m.GetType().Name, m.RunId); });
        Receive<WorkerFailed>(m => Fail(new InvalidOperationException($"worker {m.WorkerId} failed: {m.Reason}")));
        Receive<WorkerReady>(m => Answer("ready", 0, 0, m.WorkerId, m));
        Receive<TrunkGradient>(m => Answer("step", m.Epoch, m.Step, m.WorkerId, m));
        Receive<LocalTrunk>(m => Answer("local", m.Epoch, m.Step, m.WorkerId, m));
        Receive<HeadEpochDone>(m => Answer("heads", m.Epoch, 0, m.WorkerId, m));
        Receive<EvaluationResult>(m => Answer("eval", m.Epoch, 0, m.WorkerId, m));
        Receive<HeadShard>(m => Answer("fetch", 0, 0, m.WorkerId, m));
    }

    protected override void PreStart()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember), typeof(ClusterEvent.MemberRemoved));
        var self = Self;
        try
        {
            CoordinatedShutdown.Get(Context.System).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "mtnn-checkpoint", async () =>
            {
                try
                {
                    await self.Ask<Done>(FlushCheckpoint.Instance, TimeSpan.FromSeconds(20));
                }
                catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or ObjectDisposedException)
                {
                    // the coordinator has already stopped (its run is over); nothing to write
                }
                return Done.Instance;
            });
        }
        catch (InvalidOperationException)
        {
            // shutdown already under way: no new task can be added, and there is nothing to flush yet
        }
        if (_job.Resume is { } resume) LoadResumeCheckpoint(resume);
    }

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider }) Cluster.Get(Context.System).Unsubscribe(Self);
        _trunk?.Dispose();
        _trace.Dispose();
        base.PostStop();
    }

    private void LoadResumeCheckpoint(ResumeFrom resume)
    {
        var directory = Path.Combine(resume.Directory, TrainingCheckpoint.DirectoryName);
        try
        {
            var latest = TrainingCheckpoint.LoadLatest(directory, w => _log.Warning(w));
            if (latest is null)
            {
                if (resume.Required) Fail(new InvalidDataException($"--resume: {directory} holds no training checkpoint"));
                else _observer.Info($"no checkpoint in {directory}: starting a new run");
                return;
            }
            _resumeFrom = latest.Value.Checkpoint;
            _runId = _resumeFrom.State.RunId;
            _observer.Info($"resuming run {_runId} from {latest.Value.Directory} (epoch {_resumeFrom.State.CompletedEpochs} done)");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            Fail(e);
        }
    }

    private void OnRegister(RegisterWorker register)
    {
        Sender.Tell(new WorkerRegistered(register.WorkerId));
        if (_finished) return;
        if (_suspects.Remove(register.WorkerId, out var stale)) Context.Unwatch(stale.Ref); // it came back as a new process
        if (_workers.TryGetValue(register.WorkerId, out var known))
        {
            if (known.Ref.Equals(Sender)) return;
            // the same id from a new actor: the worker's process was restarted; its old incarnation is gone
            OnWorkerLost(w => w.WorkerId == register.WorkerId, "worker_lost");
        }
        _workers[register.WorkerId] = new WorkerHandle(register.WorkerId, Sender, register.Device, Math.Max(1, register.Slots));
        Context.Watch(Sender);
        MtnnTelemetry.WorkersAlive(_workers.Count);
        if (!_started)
        {
            _observer.Info($"worker {register.WorkerId} registered ({register.Device}, {register.Slots} slot(s)); {_workers.Count}/{_job.MinWorkers}");
            if (_workers.Count >= _job.MinWorkers) StartRun();
            return;
        }
        _observer.Info($"worker {register.WorkerId} joined ({register.Device}, {register.Slots} slot(s)); it gets tasks at the next epoch end");
        if (_assignment.Count == 0 && _snapshot is not null) Redeploy("worker_joined", register.WorkerId);
    }

    private void StartRun()
    {
        _started = true;
        _wall.Start();
        try
        {
            _data = PreparedDataset.Load(_job.Spec, w => _log.Warning(w));
            // a checkpoint continues only the run it was written by: same data, features, tasks, model shape and split
            if (_resumeFrom is { } checkpoint)
                CheckpointCompatibility.Require(CheckpointCompatibility.Compare(checkpoint.State, _job.Spec, _data.Fingerprint, _data.FeatureSize, _data.Tasks),
                    CheckpointsDirectory, "this run");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or DataFormatException)
        {
            Fail(e);
            return;
        }
        _observer.Info($"{_data.Path}: {_data.RowCount} rows ({_data.InvalidSmiles} invalid SMILES skipped), {_data.TaskCount} tasks; " +
                       $"split {_job.Spec.Split.Kind}: {_data.Split.Train.Length}/{_data.Split.Valid.Length}/{_data.Split.Test.Length}");
        _labelsPerTask = _data.Labels.CountPerTask(_data.Split.Train);
        _trunk = new TrunkMaster(_data.FeatureSize, _job.Spec);
        if (_resumeFrom is { } resumed)
        {
            var state = resumed.State;
            _snapshot = new Snapshot(state.NextEpoch, resumed.Trunk, resumed.Heads, resumed.BestHeads, state.BestEpoch, state.BestScore, [.. state.History]) { OnDisk = true };
            _events.AddRange(state.Events);
            Record(new RunEvent(DateTimeOffset.UtcNow, "resumed", "", 0, state.NextEpoch, Detail: $"from epoch {state.CompletedEpochs}"));
        }
        else _snapshot = new Snapshot(1, _trunk.Snapshot(), null, null, 0, double.NegativeInfinity, []);
        var assignment = TaskAssignment.Balance(_labelsPerTask, Slots());
        foreach (var (id, tasks) in assignment)
            _observer.Info($"worker {id}: {tasks.Length} tasks, {tasks.Sum(t => _labelsPerTask[t])} training labels");
        Deploy(assignment);
    }


    private WorkerSlot[] Slots() => _workers.Values.OrderBy(w => w.WorkerId, StringComparer.Ordinal).Select(w => new WorkerSlot(w.WorkerId, w.Slots)).ToArray();

    /// <summary>
    /// Puts the run back at the last snapshot on <paramref name="assignment"/>: a new attempt, each worker started
    /// with the heads of its tasks, then training goes on from the snapshot's epoch.
    /// </summary>
    private void Deploy(IReadOnlyDictionary<string, int[]> assignment)
    {
        var snapshot = _snapshot!;
        _round = null;
        _attempt++;
        _assignment = assignment;
        _placed = [.. _workers.Keys];
        _trunk!.Restore(snapshot.Trunk);
        _heads = snapshot.Heads;
        _bestHeads = snapshot.BestHeads;
        _bestEpoch = snapshot.BestEpoch;
        _bestScore = snapshot.BestScore;
        _history = [.. snapshot.History];
        if (_assignment.Count == 0)
        {
            _observer.Info("no worker left: waiting for one to join");
            return;
        }
        StartRound("ready", 0, 0, w => new StartRun(WireId, _job.Spec, _assignment[w], _heads?.Extract(_assignment[w]), _bestHeads?.Extract(_assignment[w], withMoments: false)), _ =>
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var i in _awaitingRecovery) _events[i] = _events[i] with { ResumedAt = now };
            if (_awaitingRecovery.Count > 0)
                _observer.Info($"training again from epoch {snapshot.NextEpoch} on {_assignment.Count} worker(s), {(now - _events[_awaitingRecovery[0]].Time).TotalSeconds:F1} s after the event");
            _awaitingRecovery.Clear();
            Continue();
        });
    }

    /// <summary>Workers lost or joined: move tasks, go back to the last snapshot, and carry on.</summary>
    private void Redeploy(string kind, string workerId)
    {
        var before = _assignment;
        var assignment = _workers.Count == 0
            ? new Dictionary<string, int[]>()
            : kind == "worker_joined"
                ? TaskAssignment.Rebalance(before, _labelsPerTask, Slots())
                : TaskAssignment.Reassign(before, _labelsPerTask, Slots());
        var moved = TaskAssignment.Moved(before, assignment);
        MtnnTelemetry.WorkerReassigned(moved);
        Record(new RunEvent(DateTimeOffset.UtcNow, kind, workerId, moved, _snapshot!.NextEpoch));
        _observer.Info($"{kind.Replace('_', ' ')}: {workerId}; {moved} task(s) moved; going on from epoch {_snapshot.NextEpoch} on {assignment.Count} worker(s)");
        Deploy(assignment);
    }

    private void Record(RunEvent e)
    {
        _events.Add(e);
        if (e.Kind is "worker_lost" or "worker_left" or "resumed") _awaitingRecovery.Add(_events.Count - 1);
    }

    /// <summary>
    /// Workers gone: their tasks move to the others and the epoch starts again from the snapshot. An unreachable
    /// worker (<paramref name="suspect"/>) is not told to stop: the failure detector also fires for a node starved of
    /// CPU, which may come back (<see cref="OnWorkerBack"/>); if it does not, the resolver downs it.
    /// </summary>
    private void OnWorkerLost(Func<WorkerHandle, bool> match, string kind, bool suspect = false)
    {
        if (!suspect)
            foreach (var gone in _suspects.Values.Where(match).ToArray())
            {
                _suspects.Remove(gone.WorkerId);
                Context.Unwatch(gone.Ref);
            }
        var lost = _workers.Values.Where(match).ToArray();
        if (lost.Length == 0 || _finished) return;
        foreach (var worker in lost)
        {
            _workers.Remove(worker.WorkerId);
            if (suspect) _suspects[worker.WorkerId] = worker;
            else Context.Unwatch(worker.Ref);
            _log.Warning("{0}: {1} ({2}{3})", kind, worker.WorkerId, worker.Ref.Path.Address, suspect ? ", unreachable" : "");
        }
        MtnnTelemetry.WorkersAlive(_workers.Count);
        if (!_started || _snapshot is null) return;
        var assigned = lost.Where(w => _assignment.ContainsKey(w.WorkerId)).ToArray();
        if (assigned.Length == 0)
        {
            _events.Add(new RunEvent(DateTimeOffset.UtcNow, kind, string.Join(',', lost.Select(w => w.WorkerId)), 0, _snapshot.NextEpoch));
            return;
        }
        _assignment = _assignment.Where(a => _workers.ContainsKey(a.Key)).ToDictionary(a => a.Key, a => a.Value);
        Redeploy(kind, string.Join(',', assigned.Select(w => w.WorkerId)));
    }

    /// <summary>An unreachable worker is reachable again: it takes part again like a worker that joins.</summary>
    private void OnWorkerBack(Address address)
    {
        foreach (var worker in _suspects.Values.Where(w => w.Ref.Path.Address.Equals(address)).ToArray())
        {
            _suspects.Remove(worker.WorkerId);
            if (_finished || _workers.ContainsKey(worker.WorkerId)) continue;
            _workers[worker.WorkerId] = worker;
            MtnnTelemetry.WorkersAlive(_workers.Count);
            _observer.Info($"worker {worker.WorkerId} is reachable again; it gets tasks at the next epoch end");
            if (_started && _assignment.Count == 0 && _snapshot is not null) Redeploy("worker_joined", worker.WorkerId);
        }
    }

    /// <summary>Next epoch, or the end of the run when the schedule or early stopping says so.</summary>
    private void Continue()
    {
        var last = _history.Count > 0 ? _history[^1].Epoch : 0;
        var patience = _job.Spec.Schedule.Patience;
        if (last >= _job.Spec.Schedule.Epochs || (last > 0 && patience > 0 && last - _bestEpoch >= patience)) Finish();
        else BeginEpoch(last + 1);
    }

    private void BeginEpoch(int epoch)
    {
        _epochClock.Restart();
        _epochLoss = 0;
        _epochLabels = _epochRows = 0;
        var phase = _job.Spec.PhaseOf(epoch);
        if (phase == EpochPhase.Heads)
        {
            StartRound("heads", epoch, 0, _ => new HeadEpoch(WireId, epoch, _trunk!.Version, _trunk.Parameters), replies =>
            {
                foreach (var done in replies.Cast<HeadEpochDone>()) Accumulate(done.LossSum, done.Labels, done.Rows);
                StepCompleted(epoch, phase, 1, 1);
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
            StartRound("local", epoch, step, _ => new TrunkStep(WireId, epoch, step, steps, phase, _trunk!.Version, _trunk.Parameters, syncEvery), replies =>
            {
                var trunks = replies.Cast<LocalTrunk>().ToArray();
                foreach (var t in trunks) Accumulate(t.LossSum, t.Labels, t.Rows);
                StepCompleted(epoch, phase, Math.Min(step + syncEvery, steps), steps);
                _trunk!.Average(trunks);
                foreach (var t in trunks) TensorArrayPool.Shared.Return(t.Trunk); // averaged (copied): the received bytes go back to the pool
                if (step + syncEvery < steps) RunStep(epoch, phase, step + syncEvery, steps);
                else EndEpoch(epoch, phase);
            });
            return;
        }
        StartRound("step", epoch, step, _ => new TrunkStep(WireId, epoch, step, steps, phase, _trunk!.Version, _trunk.Parameters), replies =>
        {
            var gradients = replies.Cast<TrunkGradient>().ToArray();
            foreach (var g in gradients) Accumulate(g.LossSum, g.Labels, g.Rows);
            StepCompleted(epoch, phase, step + 1, steps);
            _trunk!.ApplyGradients(gradients);
            foreach (var g in gradients) TensorArrayPool.Shared.Return(g.Gradients); // reduced (copied): the received bytes go back to the pool
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

    private void StepCompleted(int epoch, EpochPhase phase, int step, int steps) =>
        _observer.StepCompleted(new StepProgress(epoch, _job.Spec.Schedule.Epochs, phase, step, steps, _epochRows, _epochClock.Elapsed.TotalSeconds));

    private void EndEpoch(int epoch, EpochPhase phase)
    {
        var trainSeconds = _epochClock.Elapsed.TotalSeconds;
        StartRound("eval", epoch, 0, _ => new Evaluate(WireId, epoch, _trunk!.Version, ["valid"], _trunk.Parameters, Snapshot: true), replies =>
        {
            var results = replies.Cast<EvaluationResult>().ToArray();
            var heads = _heads?.Clone() ?? new HeadStore(_job.Spec.Model.Layers[^1], _data!.TaskCount);
            foreach (var result in results)
                heads.Merge(result.Heads ?? throw new InvalidDataException($"worker {result.WorkerId} sent no heads with its scores"));
            _heads = heads;
            var scores = results.SelectMany(e => e.Scores).ToArray();
            var validScore = ValidationScore(scores);
            var improved = validScore > _bestScore || _bestEpoch == 0;
            if (improved)
            {
                _bestScore = validScore;
                _bestEpoch = epoch;
                _trunk!.KeepBest();
                _bestHeads = _heads.Clone();
                Broadcast(new KeepBestHeads(WireId, epoch));
            }
            var report = new EpochReport(epoch, _job.Spec.Schedule.Epochs, phase,
                _epochLabels > 0 ? _epochLoss / _epochLabels : double.NaN, validScore,
                MetricSummary.Mean(scores.Where(s => !s.Regression).Select(ToMetrics), m => m.RocAuc),
                trainSeconds, _epochRows / Math.Max(trainSeconds, 1e-9), improved);
            _history.Add(report);
            _observer.EpochCompleted(report);
            _snapshot = new Snapshot(epoch + 1, _trunk!.Snapshot(), _heads, _bestHeads, _bestEpoch, _bestScore, [.. _history]);
            var patience = _job.Spec.Schedule.Patience;
            var stop = epoch >= _job.Spec.Schedule.Epochs || (patience > 0 && epoch - _bestEpoch >= patience);
            if (stop || epoch % _job.CheckpointPolicy.Every == 0) WriteCheckpoint(_snapshot, null);
            var joined = _workers.Keys.Where(id => !_placed.Contains(id)).ToArray();
            if (!stop && joined.Length > 0) Redeploy("worker_joined", string.Join(',', joined));
            else Continue();
        });
    }

    private void WriteCheckpoint(Snapshot snapshot, string? why)
    {
        if (snapshot.Heads is null || snapshot.BestHeads is null) return;
        var epoch = snapshot.NextEpoch - 1;
        var state = new TrainingState(TrainingCheckpoint.CurrentFormat, _runId, _job.Spec, _data!.FeatureSize, _data.Fingerprint,
            _data.Tasks.Select(t => t.Name).ToArray(), epoch, snapshot.NextEpoch,
            snapshot.NextEpoch <= _job.Spec.Schedule.Epochs ? _job.Spec.PhaseOf(snapshot.NextEpoch) : null,
            snapshot.Trunk.Version, snapshot.Trunk.BestVersion, snapshot.Trunk.OptimizerSteps, snapshot.Heads.OptimizerSteps,
            snapshot.BestEpoch, snapshot.BestScore, snapshot.History, [.. _events], _assignment, _job.Spec.Seed, DateTimeOffset.UtcNow);
        try
        {
            var clock = Stopwatch.StartNew();
            var directory = new TrainingCheckpoint(state, snapshot.Trunk, snapshot.Heads, snapshot.BestHeads).Write(CheckpointsDirectory, _job.CheckpointPolicy.Keep);
            snapshot.OnDisk = true;
            _log.Info("checkpoint {0} written in {1:F2} s{2}", directory, clock.Elapsed.TotalSeconds, why is null ? "" : $" ({why})");
            if (why is not null) _observer.Info($"checkpoint {directory} written ({why})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a full disk must not end an overnight run: the previous checkpoints stay, and the run goes on
            _log.Error("checkpoint of epoch {0} not written: {1}", epoch, e.Message);
            _events.Add(new RunEvent(DateTimeOffset.UtcNow, "checkpoint_failed", "", 0, epoch, Detail: e.Message));
            MtnnTelemetry.CheckpointFailed();
        }
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
        Broadcast(new RestoreBestHeads(WireId));
        StartRound("eval", 0, 0, _ => new Evaluate(WireId, 0, _trunk.Version, ["train", "valid", "test"], _trunk.Parameters), evaluations =>
        {
            var scores = evaluations.Cast<EvaluationResult>().SelectMany(e => e.Scores).ToArray();
            StartRound("fetch", 0, 0, _ => new FetchHeads(WireId), shards =>
            {
                var (weight, bias) = HeadAssembly.Merge(shards.Cast<HeadShard>().ToArray(), _data!.TaskCount);
                var outcome = new RunOutcome(_runId, _job.Spec, _data, _history, _bestEpoch, scores,
                    _assignment.Select(a => new WorkerAssignment(a.Key, _workers[a.Key].Ref.Path.Address.ToString(), _workers[a.Key].Device, _workers[a.Key].Slots, a.Value)).ToArray(),
                    _trunk.Parameters, weight, bias, _wall.Elapsed.TotalSeconds, [.. _events]);
                try
                {
                    RunWriter.Write(_job.OutDirectory, outcome);
                }
                catch (IOException e)
                {
                    Fail(e);
                    return;
                }
                _finished = true;
                foreach (var worker in _workers.Values) _delivery.Send(worker.Ref, new EndRun(_assignment.ContainsKey(worker.WorkerId) ? WireId : _runId), Self);
                if (_delivery.Summary is { } exchange) _observer.Info(exchange);
                _observer.Completed(outcome);
            });
        });
    }

    private void StartRound(string kind, int epoch, int step, Func<string, IMtnnMessage> request, Action<IReadOnlyList<IRunMessage>> complete)
    {
        _round = new Round(kind, epoch, step, _assignment.Keys.ToArray(), complete);
        using var exchange = _trace.RoundStarted(kind, epoch, step, _assignment.Count);
        foreach (var id in _assignment.Keys) _delivery.Send(_workers[id].Ref, request(id), Self);
    }

    private void Answer(string kind, int epoch, int step, string workerId, IRunMessage reply)
    {
        var round = _round;
        if (!_workers.TryGetValue(workerId, out var from) || !from.Ref.Equals(Sender) // a reply must come from the worker it names
            || round is null || round.Kind != kind || round.Epoch != epoch || round.Step != step || !round.Waiting.Remove(workerId))
        {
            Dropped++;
            _log.Debug("dropped a stale {0} from {1} (epoch {2}, step {3})", kind, workerId, epoch, step);
            return;
        }
        round.Replies[workerId] = reply;
        if (round.Waiting.Count > 0) return;
        _round = null;
        _trace.RoundCompleted();
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
            _log.Error("run {0} failed: {1}", _runId, error.Message); // the user's input: the message says it all
        else
            _log.Error(error, "run {0} failed", _runId);
        _round = null;
        _finished = true;
        _trace.Failed(error);
        foreach (var worker in _workers.Values) _delivery.Send(worker.Ref, new EndRun(_assignment.ContainsKey(worker.WorkerId) ? WireId : _runId), Self); // assigned or not
        _observer.Failed(error);
    }
}
