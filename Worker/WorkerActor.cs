using Akka;
using Akka.Actor;
using Akka.Event;
using MtnnCluster.Data;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Transport;

namespace MtnnCluster.Worker;

/// <summary>How a worker presents itself: a stable id, the device it computes on, and its capacity in slots.
/// <see cref="ExitAfterRun"/>: a worker process of a cluster shuts its node down when its run ends.</summary>
public sealed record WorkerOptions(string WorkerId, string Device, int Slots, bool ExitAfterRun = false);

/// <summary>
/// A worker: registers with the coordinator, owns the heads and rows of the tasks it is given, and answers the
/// coordinator's steps. The tensor work is <see cref="ShardTrainer"/>'s; this actor only sequences it. It runs on
/// a dedicated thread (see <see cref="WorkerHosting"/>), so long steps block nothing else.
/// </summary>
public sealed class WorkerActor : ProtocolActor, IWithTimers
{
    private readonly WorkerOptions _options;
    private readonly IActorRef _coordinator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ShardTrainer? _trainer;
    private string? _runId;
    private string? _assignedRunId;
    private bool _registered;
    private IActorRef? _coordinatorInstance; // the coordinator itself, behind the proxy: watched, so that a new one is registered with
    private volatile bool _inRun; // read by the shutdown task, on another thread
    private IActorRef? _runCoordinator; // run messages are taken only from the coordinator that started the run

    public ITimerScheduler Timers { get; set; } = null!;
    /// <summary>Messages dropped because they named another run, arrived before one started, or came from elsewhere than its coordinator.</summary>
    public long Dropped { get; private set; }

    public WorkerActor(WorkerOptions options, IActorRef coordinator)
    {
        _options = options;
        _coordinator = coordinator;

        Receive<Register>(_ => { if (!_registered) _coordinator.Tell(new RegisterWorker(_options.WorkerId, _options.Device, _options.Slots)); });
        Receive<WorkerRegistered>(_ =>
        {
            _registered = true;
            Timers.Cancel("register");
            if (Sender.Equals(_coordinatorInstance)) return;
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
            _registered = false;
            Self.Tell(Register.Instance);
            Timers.StartPeriodicTimer("register", Register.Instance, TimeSpan.FromSeconds(2));
        });
        // Large messages of any run are reassembled: a StartRun that moves tasks here (with their heads) names the
        // run's next attempt, which this worker cannot know yet. What arrives is then filtered like any message.
        ReceiveTransfers(() => null);
        Receive<StartRun>(Start);
        // Before the filter below: a run that failed before or while starting here has no trainer, but must still
        // end (and, on a cluster, let this process exit).
        // The run's own id (without its attempt) ends it too: a worker whose tasks all moved away is sent that one.
        Receive<EndRun>(m => _assignedRunId is null || m.RunId == _assignedRunId || _assignedRunId.StartsWith(m.RunId + "~", StringComparison.Ordinal), _ =>
        {
            EndCurrentRun();
            if (_options.ExitAfterRun) CoordinatedShutdown.Get(Context.System).Run(RunEndedReason.Instance);
        });
        Receive<IRunMessage>(m => m.RunId != _runId || _trainer is null || !Sender.Equals(_runCoordinator), m =>
        {
            Dropped++;
            _log.Debug("dropped {0} for run {1}", m.GetType().Name, m.RunId);
        });
        Receive<LocalTrunkSteps>(m => Reply(m.RunId, () =>
        {
            var (loss, trunk) = _trainer!.LocalTrunkSteps(m.Epoch, m.Step, m.Steps, m.Phase, m.Trunk);
            return new LocalTrunk(m.RunId, _options.WorkerId, m.Epoch, m.Step, loss.LossSum, loss.Labels, loss.Rows, trunk);
        }, m.Trunk));
        Receive<TrunkStep>(m => Reply(m.RunId, () =>
        {
            var (loss, gradients) = _trainer!.TrunkStep(m.Epoch, m.Step, m.Steps, m.Phase, m.Trunk);
            return new TrunkGradient(m.RunId, _options.WorkerId, m.Epoch, m.Step, m.Version, loss.LossSum, loss.Labels, loss.Rows, gradients);
        }, m.Trunk));
        Receive<HeadEpoch>(m => Reply(m.RunId, () =>
        {
            var loss = _trainer!.HeadEpoch(m.Epoch, m.Steps, m.Version, m.Trunk);
            return new HeadEpochDone(m.RunId, _options.WorkerId, m.Epoch, loss.LossSum, loss.Labels, loss.Rows);
        }, m.Trunk));
        Receive<Evaluate>(m => Reply(m.RunId, () =>
            new EvaluationResult(m.RunId, _options.WorkerId, m.Epoch, _trainer!.Evaluate(m.Trunk, m.Splits),
                m.Snapshot ? _trainer.SnapshotHeads() : null), m.Trunk));
        Receive<KeepBestHeads>(_ => _trainer!.KeepBestHeads());
        Receive<RestoreBestHeads>(_ => _trainer!.RestoreBestHeads());
        Receive<FetchHeads>(m => Reply(m.RunId, () =>
        {
            var (weight, bias) = _trainer!.ExportHeads();
            return new HeadShard(m.RunId, _options.WorkerId, _trainer.TaskIndices, weight, bias);
        }));
    }

    protected override void PreStart()
    {
        // Until the coordinator acknowledges (it may not exist yet, or be moving), keep announcing ourselves.
        Self.Tell(Register.Instance);
        Timers.StartPeriodicTimer("register", Register.Instance, TimeSpan.FromSeconds(2));
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
            var data = PreparedDataset.Load(start.Spec, w => _log.Warning(w));
            data.RequireFingerprint(start.ExpectedFingerprint, "the coordinator's");
            _trainer = new ShardTrainer(data, start.Spec, start.TaskIndices, device, start.Heads, start.BestHeads);
            _inRun = true;
            _log.Info("worker {0}: {1} tasks, {2} training rows on {3}; {4}", _options.WorkerId, start.TaskIndices.Length, _trainer.TrainRows, _options.Device, _trainer.Residency);
            Sender.Tell(new WorkerReady(start.RunId, _options.WorkerId, _trainer.TrainRows, _trainer.TrainLabels));
        }
        catch (Exception e)
        {
            // whatever went wrong, the coordinator must hear of it rather than wait for a reply
            _log.Error(e, "worker {0} cannot start run {1}", _options.WorkerId, start.RunId);
            Sender.Tell(new WorkerFailed(start.RunId, _options.WorkerId, e.Message));
            EndCurrentRun();
        }
    }

    /// <summary>Answers with what <paramref name="work"/> computes from the <paramref name="trunk"/> it was sent.</summary>
    private void Reply(string runId, Func<IMtnnMessage> work, TensorData[]? trunk = null)
    {
        try
        {
            Delivery.Send(Sender, work(), Self);
        }
        catch (Exception e)
        {
            _log.Error(e, "worker {0} failed a step of run {1}", _options.WorkerId, runId);
            Sender.Tell(new WorkerFailed(runId, _options.WorkerId, e.Message));
        }
        finally
        {
            // the trainer copies the trunk into its own tensors and keeps no reference: the received bytes go back
            // to the pool for the next round's trunk (a no-op for a trunk that did not come from another node)
            if (trunk is not null) TensorArrayPool.Shared.Return(trunk);
        }
    }

    private void EndCurrentRun()
    {
        _inRun = false;
        _trainer?.Dispose();
        _trainer = null;
        _runId = null;
    }

    private sealed class Register : INoSerializationVerificationNeeded
    {
        public static readonly Register Instance = new();
    }
}
