using Akka;
using Akka.Actor;
using Akka.Event;
using MtnnCluster.Collectives;
using MtnnCluster.Data;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Worker;

/// <summary>How a worker presents itself: a stable id, the device it computes on, and its capacity in slots.
/// <see cref="ExitAfterRun"/>: a worker process of a cluster shuts its node down when its run ends.
/// <see cref="DataRoot"/>: the only directory it reads data under (see <see cref="Worker.DataRoot"/>; null: its first run's).</summary>
public sealed record WorkerOptions(string WorkerId, string Device, int Slots, bool ExitAfterRun = false, string? DataRoot = null);

/// <summary>
/// A worker: registers with the coordinator, takes the rows and tasks of each run attempt it is given, joins the
/// attempt's process group with the other workers, and runs the rounds of steps the coordinator starts. The tensor
/// work and the exchanges among workers are <see cref="ShardTrainer"/>'s; this actor only sequences them. It runs
/// on a dedicated thread (see <see cref="WorkerHosting"/>), so long steps, blocked in a collective or not, block
/// nothing else.
/// </summary>
public sealed class WorkerActor : ProtocolActor, IWithTimers
{
    private readonly WorkerOptions _options;
    private readonly IActorRef _coordinator;
    private readonly IProcessGroupFactory _groups;
    private IProcessGroup? _group;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ShardTrainer? _trainer;
    private string? _runId;
    private string? _assignedRunId;
    private bool _registered;
    private IActorRef? _coordinatorInstance; // the coordinator itself, behind the proxy: watched, so that a new one is registered with
    private volatile bool _inRun; // read by the shutdown task, on another thread
    private IActorRef? _runCoordinator; // run messages are taken only from the coordinator that started the run
    // echoed by the coordinator's acknowledgement: only the actor our registration reached can become our coordinator
    private readonly string _nonce = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
    private readonly DataRoot _dataRoot;

    public ITimerScheduler Timers { get; set; } = null!;
    /// <summary>Messages dropped because they named another run, arrived before one started, or came from elsewhere than its coordinator.</summary>
    public long Dropped { get; private set; }

    /// <summary>How long a worker waits for the other workers of an attempt to join its group (they load the data first).</summary>
    public static readonly TimeSpan JoinTimeout = TimeSpan.FromMinutes(5);

    public WorkerActor(WorkerOptions options, IActorRef coordinator, IProcessGroupFactory groups)
    {
        _options = options;
        _coordinator = coordinator;
        _groups = groups;
        _dataRoot = new DataRoot(options.DataRoot);

        Receive<Register>(_ => { if (!_registered) _coordinator.Tell(new RegisterWorker(_options.WorkerId, _options.Device, _options.Slots, _groups.Endpoint, _nonce)); });
        Receive<WorkerRegistered>(m =>
        {
            if (!NonceMatches(m.Nonce))
            {
                Refused(m); // not an answer to our registration: whoever sent it would otherwise become our coordinator
                return;
            }
            _registered = true;
            Timers.Cancel("register");
            if (Sender.Equals(_coordinatorInstance)) return;
            if (_coordinatorInstance is not null) Context.Unwatch(_coordinatorInstance); // a group's previous job's coordinator
            _coordinatorInstance = Sender;
            Context.Watch(Sender);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_coordinatorInstance), _ =>
        {
            // the coordinator's node is gone: drop the run and announce ourselves until its successor (a restarted
            // or handed-over coordinator, resuming from its checkpoint) answers
            _log.Warning("worker {0}: coordinator lost; waiting for a new one", _options.WorkerId);
            EndCurrentRun();
            _assignedRunId = null;
            _coordinatorInstance = null;
            AnnounceUntilRegistered();
        });
        // Large messages of any run are reassembled: a StartRun that moves tasks here (with their heads) names the
        // run's next attempt, which this worker cannot know yet. What arrives is then filtered like any message.
        ReceiveTransfers(() => null, FromCoordinator);
        // The control messages: only from the coordinator that acknowledged our registration (StartRun, FitHeads,
        // EndRun would otherwise let any process make this worker read files, fit heads on its labels, or exit).
        Receive<IRunMessage>(m => m is StartRun or FitHeads or EndRun && !FromCoordinator(Sender), Refused);
        Receive<StartRun>(Start);
        // Before the filter below: a run that failed before or while starting here has no trainer, but must still
        // end (and, on a cluster, let this process exit).
        // The run's own id (without its attempt) ends it too: a worker whose tasks all moved away is sent that one.
        Receive<EndRun>(m => _assignedRunId is null || m.RunId == _assignedRunId || _assignedRunId.StartsWith(m.RunId + "~", StringComparison.Ordinal), m =>
        {
            EndCurrentRun();
            if (m.KeepWorker)
            {
                // wanted for the group's next job: announce ourselves to the coordinator again
                _assignedRunId = null;
                AnnounceUntilRegistered();
                return;
            }
            if (_options.ExitAfterRun) CoordinatedShutdown.Get(Context.System).Run(RunEndedReason.Instance);
        });
        // add-tasks: heads for new tasks on a frozen trunk, no attempt, no process group; before the filter below
        Receive<FitHeads>(FitHeadsOf);
        Receive<IRunMessage>(m => _trainer is not null && m.RunId == _runId && !Sender.Equals(_runCoordinator), m =>
        {
            Dropped++;
            Refused(m);
        });
        Receive<IRunMessage>(m => m.RunId != _runId || _trainer is null, m =>
        {
            Dropped++;
            _log.Debug("dropped {0} for run {1}", m.GetType().Name, m.RunId);
        });
        Receive<TrainSteps>(m => Reply(m.RunId, () =>
        {
            var loss = _trainer!.TrainSteps(m.Epoch, m.Phase, m.Step, m.Count, m.Steps);
            return new StepsDone(m.RunId, _options.WorkerId, m.Epoch, m.Step, loss.LossSum, loss.Labels, loss.Rows, loss.BytesSent);
        }));
        Receive<HeadEpoch>(m => Reply(m.RunId, () =>
        {
            var loss = _trainer!.HeadEpoch(m.Epoch, m.Steps);
            return new HeadEpochDone(m.RunId, _options.WorkerId, m.Epoch, loss.LossSum, loss.Labels, loss.Rows, loss.BytesSent);
        }));
        Receive<Evaluate>(m => Reply(m.RunId, () =>
        {
            var scores = _trainer!.Evaluate(m.Splits);
            var heads = m.Snapshot ? _trainer.SnapshotHeads() : null;
            var trunk = m.Snapshot ? _trainer.SnapshotTrunk() : null; // collective (the optimizer's state is sharded): every rank takes it, rank 0 sends it
            return new EvaluationResult(m.RunId, _options.WorkerId, m.Epoch, scores, heads, _trainer.Rank == 0 ? trunk : null);
        }));
        Receive<KeepBest>(_ => _trainer!.KeepBest());
        Receive<RestoreBest>(_ => _trainer!.RestoreBest());
        Receive<FetchHeads>(m => Reply(m.RunId, () =>
        {
            var (weight, bias) = _trainer!.ExportHeads();
            return new HeadShard(m.RunId, _options.WorkerId, _trainer.TaskIndices, weight, bias);
        }));
    }

    protected override void PreStart()
    {
        AnnounceUntilRegistered();
        // SIGTERM (Kubernetes evicting the pod): tell the coordinator at once, so that it moves our tasks now
        // rather than after the failure detector; the step in progress is abandoned, our heads as of the last
        // epoch end are already with the coordinator.
        var (self, coordinator, id) = (Self, _coordinator, _options.WorkerId);
        OnShutdown(CoordinatedShutdown.PhaseBeforeServiceUnbind, "mtnn-worker-leave", async () =>
        {
            if (!_inRun) return;
            coordinator.Tell(new WorkerLeaving(id), self);
            await Task.Delay(TimeSpan.FromMilliseconds(500)); // let the message leave before the node does
        });
    }

    protected override void PostStop() => EndCurrentRun();

    private bool NonceMatches(string? nonce) =>
        nonce is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.ASCII.GetBytes(nonce), System.Text.Encoding.ASCII.GetBytes(_nonce));

    /// <summary>
    /// The coordinator that acknowledged our registration, or an actor above it on its node (a group's
    /// <c>JobsActor</c>, whose job coordinators are its children, ends the group's workers itself).
    /// </summary>
    private bool FromCoordinator(IActorRef sender)
    {
        if (_coordinatorInstance is not { } coordinator) return false;
        if (sender.Equals(coordinator)) return true;
        var (path, candidate) = (coordinator.Path, sender.Path);
        if (!path.Address.Equals(candidate.Address) || candidate.Elements.Count >= path.Elements.Count) return false;
        return candidate.Elements.SequenceEqual(path.Elements.Take(candidate.Elements.Count));
    }

    /// <summary>
    /// Loads the run's data, under <see cref="DataRoot"/> only. A failure's message may quote the file (a line that
    /// does not parse): it stays in this worker's log, and what goes over the wire names only its kind.
    /// </summary>
    private PreparedDataset LoadData(RunSpec spec)
    {
        try
        {
            _dataRoot.Require(spec);
            return PreparedDataset.Load(spec, w => _log.Warning(w));
        }
        catch (Exception e)
        {
            _log.Error(e, "worker {0} cannot load the data", _options.WorkerId);
            throw new DataNotLoaded(e is UnauthorizedAccessException
                ? e.Message // names only the paths the coordinator sent and the root
                : $"{e.GetType().Name} loading the data on worker {_options.WorkerId} (the worker's log has the details)");
        }
    }

    private sealed class DataNotLoaded(string message) : Exception(message);

    /// <summary>Until a coordinator acknowledges (it may not exist yet, be moving, or be a group's), keep announcing ourselves.</summary>
    private void AnnounceUntilRegistered()
    {
        _registered = false;
        Self.Tell(Register.Instance);
        Timers.StartPeriodicTimer("register", Register.Instance, TimeSpan.FromSeconds(2));
    }

    private void Start(StartRun start)
    {
        EndCurrentRun();
        _runId = _assignedRunId = start.RunId;
        _runCoordinator = Sender;
        try
        {
            start.Spec.Validate(); // the spec came over the wire: refuse sizes this node should not allocate
            var device = DeviceName.Parse(_options.Device);
            PrecisionMode.Require(start.Spec.Precision, device); // before loading anything
            var data = LoadData(start.Spec);
            data.RequireFingerprint(start.ExpectedFingerprint, "the coordinator's");
            // after loading: the wait is then only for the slowest worker's data
            _group = _groups.Join(start.RunId, start.Rank, start.Peers, JoinTimeout, start.GroupToken);
            _trainer = new ShardTrainer(data, start.Spec, new ShardLayout(start.Rank, start.SlotsByRank, start.TaskRanks), _group, device,
                new ShardStart(start.Trunk, start.Heads, start.BestHeads));
            _inRun = true;
            _log.Info($"worker {_options.WorkerId}: rank {start.Rank} of {start.Peers.Length}, {_trainer.TaskIndices.Length} tasks, " +
                      $"{_trainer.TrainRows} training rows on {_options.Device}; {_trainer.Residency}");
            Sender.Tell(new WorkerReady(start.RunId, _options.WorkerId, _trainer.TrainRows, _trainer.TrainLabels));
        }
        catch (CollectiveAbortedException e)
        {
            Abandon(start.RunId, e);
        }
        catch (Exception e)
        {
            // whatever went wrong, the coordinator must hear of it rather than wait for a reply
            _log.Error(e, "worker {0} cannot start run {1}", _options.WorkerId, start.RunId);
            Sender.Tell(new WorkerFailed(start.RunId, _options.WorkerId, e.Message));
            EndCurrentRun();
        }
    }

    /// <summary>Fits the heads of the tasks asked for (<see cref="TaskAdder.Fit"/>) and sends them back.</summary>
    private void FitHeadsOf(FitHeads request)
    {
        if (_trainer is not null) EndCurrentRun(); // a training run's coordinator is gone: this is another job
        _assignedRunId = request.RunId;
        _inRun = true; // until EndRun: on SIGTERM the coordinator hears of it and gives the share to another worker
        try
        {
            request.Spec.Validate();
            var device = DeviceName.Parse(_options.Device);
            PrecisionMode.Require(request.Spec.Precision, device);
            var data = LoadData(request.Spec);
            data.RequireFingerprint(request.ExpectedFingerprint, "the coordinator's");
            using var trunk = Trunks.Create(request.Spec, data.FeatureSize, device);
            trunk.Load(request.Trunk);
            var fitted = TaskAdder.Fit(trunk, data, request.Tasks, request.Spec.Seed, device);
            _log.Info($"worker {_options.WorkerId}: heads of {fitted.Tasks.Length} new task(s) fitted for {request.RunId}");
            Delivery.Send(Sender, HeadsFitted.Of(request.RunId, _options.WorkerId, fitted), Self);
        }
        catch (Exception e)
        {
            _log.Error(e, "worker {0} cannot fit heads for {1}", _options.WorkerId, request.RunId);
            Sender.Tell(new WorkerFailed(request.RunId, _options.WorkerId, e.Message));
        }
    }

    /// <summary>Answers with what <paramref name="work"/> computes.</summary>
    private void Reply(string runId, Func<IMtnnMessage> work)
    {
        try
        {
            Delivery.Send(Sender, work(), Self);
        }
        catch (CollectiveAbortedException e)
        {
            Abandon(runId, e);
        }
        catch (Exception e)
        {
            _log.Error(e, "worker {0} failed a step of run {1}", _options.WorkerId, runId);
            Sender.Tell(new WorkerFailed(runId, _options.WorkerId, e.Message));
            EndCurrentRun(); // the peers blocked in this attempt's collectives are released
        }
    }

    /// <summary>
    /// A peer of the attempt is gone (or the group was aborted): this attempt cannot go on. No reply: the
    /// coordinator learns of the loss from membership and starts a new attempt, which this worker joins.
    /// </summary>
    private void Abandon(string runId, CollectiveAbortedException e)
    {
        _log.Warning("worker {0}: attempt {1} abandoned: {2}", _options.WorkerId, runId, e.Message);
        EndCurrentRun();
    }

    private void EndCurrentRun()
    {
        _inRun = false;
        _trainer?.Dispose();
        _trainer = null;
        _group?.Abort("the worker left the attempt"); // no-op for a group whose collectives are over
        _group?.Dispose();
        _group = null;
        _runId = null;
    }

    private sealed class Register : INoSerializationVerificationNeeded
    {
        public static readonly Register Instance = new();
    }
}
