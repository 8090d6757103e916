using System.Diagnostics;
using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;
using MtnnCluster.Telemetry;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Coordinator;

/// <summary>Continue a run from the training checkpoints under <see cref="Directory"/>/checkpoints; <see cref="Required"/>: fail when there is none.</summary>
public sealed record ResumeFrom(string Directory, bool Required);

/// <summary>A training job as the coordinator receives it.</summary>
/// <summary>
/// One training run for a coordinator. <see cref="KeepWorkers"/>: the run is a job of a group (<see cref="JobsActor"/>),
/// so its end keeps the workers for the group's next job.
/// </summary>
public sealed record TrainJob(string RunId, RunSpec Spec, string OutDirectory, int MinWorkers, CheckpointPolicy? Checkpoints = null, ResumeFrom? Resume = null,
    bool KeepWorkers = false)
{
    public CheckpointPolicy CheckpointPolicy => Checkpoints ?? new CheckpointPolicy();
}

/// <summary>
/// The coordinator: a state machine over <see cref="RunPhase"/>. It waits for workers, deploys tasks to them
/// (tasks by <see cref="TaskPlacement"/>, rows by <see cref="RowPlacement"/>), starts the rounds of steps each epoch
/// takes as <see cref="RunSchedule"/> says, scores each epoch (<see cref="RunProgress"/>: early stopping), keeps a
/// <see cref="RunSnapshot"/> at every epoch end (the trunk comes from rank 0 then) and writes it as a training
/// checkpoint. It is the control plane only: the workers exchange embeddings and trunk gradients among themselves,
/// and no trunk passes through here per step.
/// The decisions and the math live in those plain classes; this actor holds the actor references, sends the
/// requests, collects the replies, and moves between phases. Writing the run's outputs is the caller's: it gets
/// the <see cref="RunOutcome"/> through <see cref="ITrainingObserver.Completed"/>.
/// <para>
/// Every exchange with the workers is a round: one request to each assigned worker, completed when all have
/// answered. Faults: when a worker is lost (unreachable, removed, or leaving on SIGTERM) the round in flight is
/// abandoned, the lost worker's tasks move to the others and the run goes back to the last snapshot; a worker that
/// joins is given tasks at the next epoch end. Each deployment is an attempt with its own wire id
/// (<c>run~attempt</c>), so a reply computed before the change is dropped as foreign.
/// </para>
/// </summary>
public sealed class CoordinatorActor : ProtocolActor, IWithTimers
{
    private sealed record WorkerHandle(string WorkerId, IActorRef Ref, string Device, int Slots, string? Endpoint);

    private enum RoundKind { Ready, Step, Heads, Evaluate, FetchHeads }

    /// <summary>A round's name in traces (<c>mtnn.round step</c>).</summary>
    private static string TraceName(RoundKind kind) => kind switch
    {
        RoundKind.Evaluate => "eval",
        RoundKind.FetchHeads => "fetch",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private sealed class Round(RoundKind kind, int epoch, int step, IReadOnlyCollection<string> workers, Action<IReadOnlyList<IRunMessage>> complete)
    {
        public RoundKind Kind { get; } = kind;
        public int Epoch { get; } = epoch;
        public int Step { get; } = step;
        public SortedDictionary<string, IRunMessage> Replies { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Waiting { get; } = [.. workers];
        public Action<IReadOnlyList<IRunMessage>> Complete { get; } = complete;
    }

    /// <summary>A suspected worker's grace is over (<see cref="Suspicions"/>).</summary>
    private sealed record GraceOver(string WorkerId) : INoSerializationVerificationNeeded;

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
    // the run's seconds before this coordinator (a resumed run's checkpoint): wall_seconds counts the whole run
    private double _earlierSeconds;
    // no cluster (train): nothing is ever unreachable; a cluster replaces it in PreStart with the failure detector's pause
    private Suspicions _suspicions = new(TimeSpan.Zero);
    private readonly RunTrace _trace;

    private string _runId;
    private int _attempt;
    private RunEvents _events = new([]);
    private TrainingCheckpoint? _resumeFrom;
    private Round? _round;

    // set when the run starts (the dataset is loaded)
    private PreparedDataset? _data;
    private RunSchedule? _schedule;
    private TaskPlacement? _placement;
    private TrunkState? _trunk; // as of the last snapshot (null before the first epoch end: fresh, seeded on every worker)
    private RunSnapshot? _snapshot;
    private RunProgress _progress = RunProgress.Fresh(0);
    private HeadStore? _heads, _bestHeads;
    private EpochTally _epoch = new();

    /// <summary>Messages dropped: another run's or attempt's, stale, or not from the worker they name.</summary>
    public long Dropped { get; private set; }
    public RunPhase Phase { get; private set; }
    public ITimerScheduler Timers { get; set; } = null!;

    private string WireId => $"{_runId}~{_attempt}";
    private string CheckpointsDirectory => Path.Combine(_job.OutDirectory, TrainingCheckpoint.DirectoryName);
    private bool Started => _data is not null;
    private bool Over => Phase is RunPhase.Finished or RunPhase.Failed;
    private double ElapsedSeconds => _earlierSeconds + _wall.Elapsed.TotalSeconds;

    public CoordinatorActor(TrainJob job, ITrainingObserver observer)
    {
        _job = job;
        _observer = observer;
        _runId = job.RunId;
        _trace = new RunTrace(job.RunId);
        Enter(RunPhase.WaitingForWorkers);
    }

    protected override void PreStart()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
        {
            var cluster = Cluster.Get(Context.System);
            // a suspicion that clears within the pause the detector itself tolerates is a starved node, not a lost one
            _suspicions = new Suspicions(cluster.Settings.FailureDetectorConfig.GetTimeSpan("acceptable-heartbeat-pause"));
            cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember), typeof(ClusterEvent.MemberRemoved));
        }
        var self = Self;
        OnShutdown(CoordinatedShutdown.PhaseBeforeServiceUnbind, "mtnn-checkpoint", async () =>
        {
            try
            {
                await self.Ask<Done>(FlushCheckpoint.Instance, TimeSpan.FromSeconds(20));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or ObjectDisposedException)
            {
                // the coordinator has already stopped (its run is over); nothing to write
            }
        });
        if (_job.Resume is { } resume) LoadResumeCheckpoint(resume);
    }

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider }) Cluster.Get(Context.System).Unsubscribe(Self);
        _trace.Dispose();
        base.PostStop();
    }

    // ---- phases ----

    private void Enter(RunPhase phase)
    {
        Phase = phase;
        _observer.StatusChanged(Status());
        Become(() =>
        {
            Common();
            switch (phase)
            {
                case RunPhase.Deploying:
                    Receive<WorkerReady>(m => Answer(RoundKind.Ready, 0, 0, m.WorkerId, m));
                    break;
                case RunPhase.Training:
                    Receive<StepsDone>(m => Answer(RoundKind.Step, m.Epoch, m.Step, m.WorkerId, m));
                    Receive<HeadEpochDone>(m => Answer(RoundKind.Heads, m.Epoch, 0, m.WorkerId, m));
                    break;
                case RunPhase.Evaluating or RunPhase.Finishing:
                    Receive<EvaluationResult>(m => Answer(RoundKind.Evaluate, m.Epoch, 0, m.WorkerId, m));
                    Receive<HeadShard>(m => Answer(RoundKind.FetchHeads, 0, 0, m.WorkerId, m));
                    break;
            }
            Receive<IRunMessage>(Drop); // a reply this phase does not wait for: stale
        });
    }

    private RunStatus Status()
    {
        var epoch = Phase is RunPhase.Training or RunPhase.Evaluating ? _progress.LastEpoch + 1 : _progress.LastEpoch;
        var workers = _placement?.Assignment
            .Select(a => new WorkerAssignment(a.Key, _workers.TryGetValue(a.Key, out var w) ? w.Ref.Path.Address.ToString() : "",
                w?.Device ?? "", w?.Slots ?? 0, a.Value)).ToArray() ?? [];
        return new RunStatus(_runId, Phase, epoch, _job.Spec.Schedule.Epochs, _data, [.. _progress.History],
            _progress.BestEpoch, _progress.BestScore, workers, [.. _events.All]);
    }

    private bool _shuttingDown;

    /// <summary>What every phase handles: membership, transport, shutdown, and messages of other runs.</summary>
    private void Common()
    {
        Receive<RegisterWorker>(OnRegister);
        Receive<WorkerLeaving>(m => OnWorkerLost(w => w.WorkerId == m.WorkerId && w.Ref.Equals(Sender), RunEventKind.WorkerLeft));
        Receive<ClusterEvent.UnreachableMember>(m => OnUnreachable(m.Member.Address));
        Receive<GraceOver>(m => OnGraceOver(m.WorkerId));
        Receive<ClusterEvent.ReachableMember>(m => OnWorkerBack(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => OnWorkerLost(w => w.Ref.Path.Address.Equals(m.Member.Address), RunEventKind.WorkerLost));
        Receive<Terminated>(t => OnWorkerLost(w => w.Ref.Equals(t.ActorRef), RunEventKind.WorkerLost));
        Receive<FlushCheckpoint>(_ =>
        {
            if (_snapshot is { OnDisk: false, NextEpoch: > 1 } && !Over) WriteCheckpoint(_snapshot, "shutting down");
            _shuttingDown = true; // the epoch in flight may end, but no other begins: the checkpoint is where a resume goes on
            Sender.Tell(Done.Instance);
        });
        ReceiveTransfers(() => WireId, sender => _workers.Values.Any(w => w.Ref.Equals(sender)));
        Receive<IRunMessage>(m => m.RunId != WireId, m => { Dropped++; _log.Debug("dropped {0} from another run or attempt {1}", m.GetType().Name, m.RunId); });
        // a failure ends the whole run: taken only from a worker of this attempt's placement, from the actor registered under its id
        Receive<WorkerFailed>(m => !FromPlacedWorker(m.WorkerId), m =>
        {
            Dropped++;
            Refused(m);
        });
        Receive<WorkerFailed>(m => Fail(new InvalidOperationException($"worker {m.WorkerId} failed: {m.Reason}")));
    }

    private bool FromPlacedWorker(string workerId) =>
        _workers.TryGetValue(workerId, out var worker) && worker.Ref.Equals(Sender) && _placement?.Assignment.ContainsKey(workerId) == true;

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

    /// <summary>Enough workers: load the data, place the tasks, go to the first (or resumed) snapshot and deploy.</summary>
    private void StartRun()
    {
        _wall.Start();
        PreparedDataset data;
        try
        {
            data = PreparedDataset.Load(_job.Spec, w => _log.Warning(w));
            // a checkpoint continues only the run it was written by: same data, features, tasks, model shape and split
            if (_resumeFrom is { } checkpoint)
                CheckpointCompatibility.Require(CheckpointCompatibility.Compare(checkpoint.State, _job.Spec, data.Fingerprint, data.FeatureSize, data.Tasks),
                    CheckpointsDirectory, "this run");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or DataFormatException)
        {
            Fail(e);
            return;
        }
        _data = data;
        _observer.Info($"{data.Path}: {data.RowCount} rows ({data.InvalidSmiles} invalid SMILES skipped), {data.TaskCount} tasks; " +
                       $"split {_job.Spec.Split.Kind.ToString().ToLowerInvariant()}: {data.Split.Train.Length}/{data.Split.Valid.Length}/{data.Split.Test.Length}");
        _schedule = new RunSchedule(_job.Spec, data.Split.Train.Length);
        _placement = new TaskPlacement(data.Labels.CountPerTask(data.Split.Train));
        if (_resumeFrom is { } resumed)
        {
            _snapshot = RunSnapshot.Of(resumed);
            _earlierSeconds = _snapshot.ElapsedSeconds;
            _events = new RunEvents(resumed.State.Events);
            _events.Interrupted(new RunEvent(DateTimeOffset.UtcNow, RunEventKind.Resumed, "", 0, resumed.State.NextEpoch, Detail: $"from epoch {resumed.State.CompletedEpochs}"));
        }
        else _snapshot = new RunSnapshot(1, null, null, null, 0, double.NegativeInfinity, [], 0);
        var start = _placement.Start(Slots());
        foreach (var (id, tasks) in start.Assignment)
            _observer.Info($"worker {id}: {tasks.Length} tasks, {tasks.Sum(t => _placement.LabelsPerTask[t])} training labels");
        Deploy();
    }

    private WorkerSlot[] Slots() => _workers.Values.OrderBy(w => w.WorkerId, StringComparer.Ordinal).Select(w => new WorkerSlot(w.WorkerId, w.Slots)).ToArray();

    /// <summary>
    /// Puts the run back at the last snapshot on the current placement: a new attempt, each worker started with the
    /// heads of its tasks, then training goes on from the snapshot's epoch. With no worker, waits for one.
    /// </summary>
    private void Deploy()
    {
        var snapshot = _snapshot!;
        _round = null;
        _attempt++;
        _trunk = snapshot.Trunk;
        (_heads, _bestHeads) = (snapshot.Heads, snapshot.BestHeads);
        _progress = new RunProgress(snapshot.History, snapshot.BestEpoch, snapshot.BestScore, _job.Spec.MinClassCount);
        var assignment = _placement!.Assignment;
        if (!_placement.HasWorkers)
        {
            _observer.Info("no worker left: waiting for one to join");
            Enter(RunPhase.WaitingForWorkers);
            return;
        }
        Enter(RunPhase.Deploying);
        var layouts = ShardLayout.Of(assignment, assignment.Keys.ToDictionary(w => w, w => _workers[w].Slots), _data!.TaskCount);
        var peers = layouts.OrderBy(l => l.Value.Rank).Select(l => _workers[l.Key].Endpoint ?? "").ToArray(); // in rank order, as the layouts rank them
        // a new secret per attempt: a connection to the attempt's group without it is refused (TcpProcessGroups)
        var token = System.Security.Cryptography.RandomNumberGenerator.GetBytes(Collectives.TcpProcessGroups.TokenBytes);
        StartRound(RoundKind.Ready, 0, 0,
            w => new StartRun(WireId, _job.Spec, layouts[w].Rank, layouts[w].SlotsByRank, layouts[w].TaskRanks, peers, _trunk,
                _heads?.Extract(assignment[w]), _bestHeads?.Extract(assignment[w], withMoments: false), _data.Fingerprint, token), _ =>
            {
                if (_events.Recovered(DateTimeOffset.UtcNow) is { } seconds)
                    _observer.Info($"training again from epoch {snapshot.NextEpoch} on {assignment.Count} worker(s), {seconds:F1} s after the event");
                Continue();
            });
    }

    /// <summary>Next epoch, or the end of the run when the schedule or early stopping says so.</summary>
    private void Continue()
    {
        if (_shuttingDown) return;
        if (_schedule!.NextEpoch(_progress.LastEpoch, _progress.BestEpoch) is { } epoch) BeginEpoch(epoch);
        else Finish();
    }

    private void BeginEpoch(int epoch)
    {
        Enter(RunPhase.Training);
        _epoch = new EpochTally();
        var phase = _schedule!.PhaseOf(epoch);
        if (phase == EpochPhase.Heads)
        {
            StartRound(RoundKind.Heads, epoch, 0, _ => new HeadEpoch(WireId, epoch, _schedule.StepsPerEpoch), replies =>
            {
                foreach (var done in replies.Cast<HeadEpochDone>()) _epoch.Add(done.LossSum, done.Labels, done.Rows, done.BytesSent);
                StepCompleted(epoch, phase, 1, 1);
                EndEpoch(epoch, phase);
            });
            return;
        }
        RunRound(epoch, phase, _schedule.Rounds(), 0);
    }

    /// <summary>Round <paramref name="index"/> of a trunk-updating epoch: some steps, which the workers run among themselves.</summary>
    private void RunRound(int epoch, EpochPhase phase, IReadOnlyList<StepRound> rounds, int index)
    {
        var round = rounds[index];
        var steps = _schedule!.StepsPerEpoch;
        StartRound(RoundKind.Step, epoch, round.Step, _ => new TrainSteps(WireId, epoch, phase, round.Step, round.Count, steps), replies =>
        {
            foreach (var done in replies.Cast<StepsDone>()) _epoch.Add(done.LossSum, done.Labels, done.Rows, done.BytesSent);
            StepCompleted(epoch, phase, round.End, steps);
            if (index + 1 < rounds.Count) RunRound(epoch, phase, rounds, index + 1);
            else EndEpoch(epoch, phase);
        });
    }

    private void StepCompleted(int epoch, EpochPhase phase, int step, int steps) =>
        _observer.StepCompleted(new StepProgress(epoch, _schedule!.Epochs, phase, step, steps, _epoch.Rows, _epoch.Seconds));

    /// <summary>Scores the epoch on the validation split and takes the workers' heads for the snapshot.</summary>
    private void EndEpoch(int epoch, EpochPhase phase)
    {
        var trainSeconds = _epoch.Seconds;
        Enter(RunPhase.Evaluating);
        StartRound(RoundKind.Evaluate, epoch, 0, _ => new Evaluate(WireId, epoch, [Split.Valid], Snapshot: true), replies =>
        {
            var results = replies.Cast<EvaluationResult>().ToArray();
            _trunk = results.Select(r => r.Trunk).SingleOrDefault(t => t is not null)
                     ?? throw new InvalidDataException("no worker sent the trunk with its scores (rank 0 should)");
            var heads = _heads?.Clone() ?? new HeadStore(_job.Spec.Model.Layers[^1], _data!.TaskCount);
            foreach (var result in results)
                heads.Merge(result.Heads ?? throw new InvalidDataException($"worker {result.WorkerId} sent no heads with its scores"));
            _heads = heads;
            var report = _progress.Record(epoch, _schedule!.Epochs, phase, _epoch, trainSeconds, results.SelectMany(e => e.Scores).Where(m => _data!.IsEvaluated(m.Task)).ToArray());
            if (report.Improved)
            {
                _trunk = _trunk with { Best = _trunk.Parameters, BestVersion = _trunk.Version };
                _bestHeads = _heads.Clone();
                Broadcast(new KeepBest(WireId, epoch));
            }
            _observer.EpochCompleted(report);
            _snapshot = new RunSnapshot(epoch + 1, _trunk, _heads, _bestHeads, _progress.BestEpoch, _progress.BestScore, [.. _progress.History], ElapsedSeconds);
            if (_schedule.CheckpointAfter(epoch, _progress.BestEpoch, _job.CheckpointPolicy.Every)) WriteCheckpoint(_snapshot, null);
            var joined = _placement!.Unplaced(_workers.Keys).ToArray();
            if (!_schedule.IsOver(epoch, _progress.BestEpoch) && joined.Length > 0) Redeploy(RunEventKind.WorkerJoined, string.Join(',', joined));
            else Continue();
        });
    }

    /// <summary>The best trunk and heads scored on every split, then the heads gathered: the run's outcome.</summary>
    private void Finish()
    {
        Enter(RunPhase.Finishing);
        Broadcast(new RestoreBest(WireId));
        StartRound(RoundKind.Evaluate, 0, 0, _ => new Evaluate(WireId, 0, [Split.Train, Split.Valid, Split.Test]), evaluations =>
        {
            var scores = evaluations.Cast<EvaluationResult>().SelectMany(e => e.Scores).ToArray();
            StartRound(RoundKind.FetchHeads, 0, 0, _ => new FetchHeads(WireId), shards =>
            {
                var (weight, bias) = HeadAssembly.Merge(shards.Cast<HeadShard>().Select(h => new HeadColumns(h.WorkerId, h.TaskIndices, h.Weight, h.Bias)).ToArray(), _data!.TaskCount);
                var assignment = _placement!.Assignment;
                var outcome = new RunOutcome(_runId, _job.Spec, _data, _progress.History, _progress.BestEpoch, scores,
                    assignment.Select(a => new WorkerAssignment(a.Key, _workers[a.Key].Ref.Path.Address.ToString(), _workers[a.Key].Device, _workers[a.Key].Slots, a.Value)).ToArray(),
                    _trunk?.Best ?? _trunk?.Parameters ?? throw new InvalidOperationException("the run finished before any epoch ended"),
                    weight, bias, ElapsedSeconds, [.. _events.All]);
                Enter(RunPhase.Finished);
                EndRunOnEveryWorker();
                if (Delivery.Summary is { } exchange) _observer.Info(exchange);
                _observer.Completed(outcome);
            });
        });
    }

    private void WriteCheckpoint(RunSnapshot snapshot, string? why)
    {
        if (snapshot.ToCheckpoint(_runId, _job.Spec, _data!, _events.All, _placement!.Assignment) is not { } checkpoint) return;
        try
        {
            var clock = Stopwatch.StartNew();
            var (directory, removed) = checkpoint.Write(CheckpointsDirectory, _job.CheckpointPolicy.Keep);
            snapshot.OnDisk = true;
            if (removed.Count > 0)
                _observer.Info($"disk full: removed {string.Join(", ", removed.Select(Path.GetFileName))} to make room for checkpoint {directory}");
            _log.Info("checkpoint {0} written in {1:F2} s{2}", directory, clock.Elapsed.TotalSeconds, why is null ? "" : $" ({why})");
            if (why is not null) _observer.Info($"checkpoint {directory} written ({why})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a full disk must not end an overnight run: the previous checkpoints stay, and the run goes on
            _log.Error("checkpoint of epoch {0} not written: {1}", snapshot.CompletedEpochs, e.Message);
            _events.Add(new RunEvent(DateTimeOffset.UtcNow, RunEventKind.CheckpointFailed, "", 0, snapshot.CompletedEpochs, Detail: e.Message));
            MtnnTelemetry.CheckpointFailed();
        }
    }

    // ---- membership ----

    private void OnRegister(RegisterWorker register)
    {
        // a group's job that is over leaves the worker unanswered: it goes on announcing itself, and the group's
        // coordinator gives it the next job
        if (Over && _job.KeepWorkers) return;
        if (!Registrations.FromMember(Context.System, Sender, register.WorkerId)
            || _workers.TryGetValue(register.WorkerId, out var holder) && !holder.Ref.Equals(Sender) && Registrations.StillHeld(Context.System, holder.Ref))
        {
            Refused(register); // unanswered: a worker that is only early (not up yet) or restarting announces itself again
            return;
        }
        Sender.Tell(new WorkerRegistered(register.WorkerId, register.Nonce));
        if (Over) return;
        if (_suspects.Remove(register.WorkerId, out var stale)) Context.Unwatch(stale.Ref); // it came back as a new process
        if (_workers.TryGetValue(register.WorkerId, out var known))
        {
            if (known.Ref.Equals(Sender)) return;
            // the same id from a new actor, the old one unreachable: the worker's process was restarted; its old incarnation is gone
            OnWorkerLost(w => w.WorkerId == register.WorkerId, RunEventKind.WorkerLost);
        }
        _workers[register.WorkerId] = new WorkerHandle(register.WorkerId, Sender, register.Device, Math.Max(1, register.Slots), register.ExchangeEndpoint);
        Context.Watch(Sender);
        MtnnTelemetry.WorkersAlive(_workers.Count);
        if (!Started)
        {
            _observer.Info($"worker {register.WorkerId} registered ({register.Device}, {register.Slots} slot(s)); {_workers.Count}/{_job.MinWorkers}");
            if (_workers.Count >= _job.MinWorkers) StartRun();
            return;
        }
        _observer.Info($"worker {register.WorkerId} joined ({register.Device}, {register.Slots} slot(s)); it gets tasks at the next epoch end");
        if (Phase == RunPhase.WaitingForWorkers) Redeploy(RunEventKind.WorkerJoined, register.WorkerId);
    }

    /// <summary>Workers lost or joined: move tasks, go back to the last snapshot, and carry on.</summary>
    private void Redeploy(RunEventKind kind, string workerId)
    {
        var change = kind == RunEventKind.WorkerJoined ? _placement!.Joined(Slots()) : _placement!.Lost(Slots());
        MtnnTelemetry.WorkerReassigned(change.Moved);
        var e = new RunEvent(DateTimeOffset.UtcNow, kind, workerId, change.Moved, _snapshot!.NextEpoch);
        _events.Interrupted(e);
        _observer.Info($"{e.KindName.Replace('_', ' ')}: {workerId}; {change.Moved} task(s) moved; going on from epoch {_snapshot.NextEpoch} on {change.Assignment.Count} worker(s)");
        Deploy();
    }

    /// <summary>
    /// A member is unreachable: its workers keep their tasks for the grace (<see cref="Suspicions"/>); the timer
    /// then decides. If it is reachable again first, nothing moves.
    /// </summary>
    private void OnUnreachable(Address address)
    {
        if (Over) return;
        foreach (var worker in _workers.Values.Where(w => w.Ref.Path.Address.Equals(address)))
        {
            if (!_suspicions.Suspected(worker.WorkerId, DateTimeOffset.UtcNow)) continue;
            _log.Warning("worker {0} ({1}) is unreachable; its tasks move if it still is in {2:F1} s", worker.WorkerId, address, _suspicions.Grace.TotalSeconds);
            Timers.StartSingleTimer(GraceTimer(worker.WorkerId), new GraceOver(worker.WorkerId), _suspicions.Grace);
        }
    }

    private static string GraceTimer(string workerId) => $"grace-{workerId}";

    private void OnGraceOver(string workerId)
    {
        switch (_suspicions.Check(workerId, DateTimeOffset.UtcNow))
        {
            case SuspicionVerdict.Waiting: // the timer fired a little early
                Timers.StartSingleTimer(GraceTimer(workerId), new GraceOver(workerId), _suspicions.Remaining(workerId, DateTimeOffset.UtcNow));
                break;
            case SuspicionVerdict.Lost:
                OnWorkerLost(w => w.WorkerId == workerId, RunEventKind.WorkerLost, suspect: true);
                break;
        }
    }

    /// <summary>
    /// Workers gone: their tasks move to the others and the epoch starts again from the snapshot. A worker unreachable
    /// for its whole grace (<paramref name="suspect"/>) is not told to stop: the failure detector also fires for a node starved of
    /// CPU, which may come back (<see cref="OnWorkerBack"/>); if it does not, the resolver downs it.
    /// </summary>
    private void OnWorkerLost(Func<WorkerHandle, bool> match, RunEventKind kind, bool suspect = false)
    {
        if (!suspect)
            foreach (var gone in _suspects.Values.Where(match).ToArray())
            {
                _suspects.Remove(gone.WorkerId);
                Context.Unwatch(gone.Ref);
            }
        var lost = _workers.Values.Where(match).ToArray();
        if (lost.Length == 0 || Over) return;
        foreach (var worker in lost)
        {
            _workers.Remove(worker.WorkerId);
            if (_suspicions.Cleared(worker.WorkerId)) Timers.Cancel(GraceTimer(worker.WorkerId));
            if (suspect) _suspects[worker.WorkerId] = worker;
            else Context.Unwatch(worker.Ref);
            _log.Warning("{0}: {1} ({2}{3})", RunEvent.NameOf(kind), worker.WorkerId, worker.Ref.Path.Address, suspect ? ", unreachable" : "");
        }
        MtnnTelemetry.WorkersAlive(_workers.Count);
        if (!Started) return;
        var ids = lost.Select(w => w.WorkerId).ToArray();
        if (!_placement!.Holds(ids))
        {
            _events.Add(new RunEvent(DateTimeOffset.UtcNow, kind, string.Join(',', ids), 0, _snapshot!.NextEpoch));
            return;
        }
        Redeploy(kind, string.Join(',', ids.Where(_placement.Assignment.ContainsKey)));
    }

    /// <summary>
    /// A member is reachable again. A worker within its grace just goes on (only a log line); one whose tasks had
    /// moved takes part again like a worker that joins.
    /// </summary>
    private void OnWorkerBack(Address address)
    {
        foreach (var worker in _workers.Values.Where(w => w.Ref.Path.Address.Equals(address)))
        {
            if (!_suspicions.Cleared(worker.WorkerId)) continue;
            Timers.Cancel(GraceTimer(worker.WorkerId));
            _log.Warning("worker {0} is reachable again within the {1:F1} s grace; nothing moved", worker.WorkerId, _suspicions.Grace.TotalSeconds);
        }
        foreach (var worker in _suspects.Values.Where(w => w.Ref.Path.Address.Equals(address)).ToArray())
        {
            _suspects.Remove(worker.WorkerId);
            if (Over || _workers.ContainsKey(worker.WorkerId)) continue;
            _workers[worker.WorkerId] = worker;
            MtnnTelemetry.WorkersAlive(_workers.Count);
            _observer.Info($"worker {worker.WorkerId} is reachable again; it gets tasks at the next epoch end");
            if (Started && Phase == RunPhase.WaitingForWorkers) Redeploy(RunEventKind.WorkerJoined, worker.WorkerId);
        }
    }

    // ---- rounds ----

    private void StartRound(RoundKind kind, int epoch, int step, Func<string, IMtnnMessage> request, Action<IReadOnlyList<IRunMessage>> complete)
    {
        var assignment = _placement!.Assignment;
        _round = new Round(kind, epoch, step, assignment.Keys.ToArray(), complete);
        using var exchange = _trace.RoundStarted(TraceName(kind), epoch, step, assignment.Count);
        foreach (var id in assignment.Keys) Delivery.Send(_workers[id].Ref, request(id), Self);
    }

    private void Answer(RoundKind kind, int epoch, int step, string workerId, IRunMessage reply)
    {
        var round = _round;
        if (!_workers.TryGetValue(workerId, out var from) || !from.Ref.Equals(Sender)) // a reply must come from the worker it names
        {
            Dropped++;
            Refused(reply);
            return;
        }
        if (round is null || round.Kind != kind || round.Epoch != epoch || round.Step != step || !round.Waiting.Remove(workerId))
        {
            Drop(reply);
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

    private void Drop(IRunMessage reply)
    {
        Dropped++;
        _log.Debug("dropped a stale {0} from {1}", reply.GetType().Name, Sender.Path);
    }

    private void Broadcast(IMtnnMessage message)
    {
        foreach (var id in _placement!.Assignment.Keys) Delivery.Send(_workers[id].Ref, message, Self);
    }

    /// <summary>Tells every worker the run is over: assigned ones under the attempt's id, the others (joined, unplaced) under the run's.</summary>
    private void EndRunOnEveryWorker()
    {
        foreach (var worker in _workers.Values)
            Delivery.Send(worker.Ref, new EndRun(_placement?.Assignment.ContainsKey(worker.WorkerId) == true ? WireId : _runId, _job.KeepWorkers), Self);
    }

    private void Fail(Exception error)
    {
        if (error is DataFormatException or InvalidDataException or IOException or ArgumentException)
            _log.Error("run {0} failed: {1}", _runId, error.Message); // the user's input: the message says it all
        else
            _log.Error(error, "run {0} failed", _runId);
        _round = null;
        Enter(RunPhase.Failed);
        _trace.Failed(error);
        EndRunOnEveryWorker();
        _observer.Failed(error);
    }
}
