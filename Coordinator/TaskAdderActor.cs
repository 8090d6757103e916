using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using MtnnCluster.Checkpoints;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator;

/// <summary>
/// An <c>add-tasks</c> job: heads for the new tasks of <see cref="Data"/> on the frozen trunk of
/// <see cref="Trained"/>, fitted by <see cref="MinWorkers"/> or more workers. <see cref="Spec"/> is the trained
/// model's, with the new data's dataset (what each worker loads).
/// </summary>
public sealed record TaskAdderJob(string RunId, Checkpoint Trained, PreparedDataset Data, RunSpec Spec, int MinWorkers);

/// <summary>What the <c>add-tasks</c> coordinator tells the command that started it.</summary>
public interface ITaskAdderObserver
{
    void Info(string message);
    /// <summary>Every new task's head, each exactly once, from whichever workers fitted them.</summary>
    void Completed(IReadOnlyList<FittedHeads> fitted);
    void Failed(Exception error);
}

/// <summary>
/// The coordinator of an <c>add-tasks</c> job. Workers register with it as with a training run's coordinator (it
/// takes the coordinator's name); once <see cref="TaskAdderJob.MinWorkers"/> have, the new tasks are shared out by
/// labels (<see cref="TaskAdder.Shares"/>) and each worker is sent its share with the trunk (<see cref="FitHeads"/>).
/// A worker lost before it answered has its share sent to the live worker with the fewest labels pending, or to the
/// next that registers; the heads do not depend on which worker fits them. When every task is back, every worker is
/// told the job is over (<see cref="EndRun"/>) and the observer gets the heads. The fits themselves are
/// <see cref="TaskAdder"/>'s, in Core.
/// </summary>
public sealed class TaskAdderActor : ProtocolActor
{
    private sealed record Worker(string WorkerId, IActorRef Ref, int Slots);

    private readonly TaskAdderJob _job;
    private readonly ITaskAdderObserver _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, Worker> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<int[]>> _pending = new(StringComparer.Ordinal);
    private readonly Queue<int[]> _unassigned = new();
    private readonly List<FittedHeads> _fitted = [];
    private readonly long[] _labels;
    private bool _started, _over;

    public TaskAdderActor(TaskAdderJob job, ITaskAdderObserver observer)
    {
        _job = job;
        _observer = observer;
        _labels = new long[job.Data.TaskCount];
        for (var row = 0; row < job.Data.RowCount; row++)
            foreach (var t in job.Data.Labels.TasksOf(row)) _labels[t]++;

        Receive<RegisterWorker>(OnRegister);
        Receive<WorkerLeaving>(m =>
        {
            if (FromWorker(m.WorkerId)) OnLost(m.WorkerId, "left");
            else Refused(m);
        });
        Receive<Terminated>(t => _workers.Values.FirstOrDefault(w => w.Ref.Equals(t.ActorRef)) is { } w, t =>
            OnLost(_workers.Values.First(w => w.Ref.Equals(t.ActorRef)).WorkerId, "lost"));
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            foreach (var w in _workers.Values.Where(w => w.Ref.Path.Address.Equals(m.Member.Address)).ToArray()) OnLost(w.WorkerId, "lost");
        });
        ReceiveTransfers(() => _job.RunId, sender => _workers.Values.Any(w => w.Ref.Equals(sender)));
        // a worker's answers only from the worker they name: anyone else could end the job or slip in heads
        Receive<IRunMessage>(m => m.RunId == _job.RunId && m switch
        {
            HeadsFitted h => !FromWorker(h.WorkerId),
            WorkerFailed f => !FromWorker(f.WorkerId),
            _ => false,
        }, Refused);
        Receive<HeadsFitted>(m => m.RunId == _job.RunId, OnFitted);
        Receive<WorkerFailed>(m => m.RunId == _job.RunId, m => Fail(new InvalidOperationException($"worker {m.WorkerId} failed: {m.Reason}")));
        Receive<IRunMessage>(m => _log.Debug("dropped {0} of run {1}", m.GetType().Name, m.RunId));
    }

    protected override void PreStart()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider }) Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private bool FromWorker(string workerId) => _workers.TryGetValue(workerId, out var worker) && worker.Ref.Equals(Sender);

    private void OnRegister(RegisterWorker register)
    {
        if (!Registrations.FromMember(Context.System, Sender, register.WorkerId)
            || _workers.TryGetValue(register.WorkerId, out var holder) && !holder.Ref.Equals(Sender) && Registrations.StillHeld(Context.System, holder.Ref))
        {
            Refused(register);
            return;
        }
        Sender.Tell(new WorkerRegistered(register.WorkerId, register.Nonce));
        if (_over) return;
        if (_workers.TryGetValue(register.WorkerId, out var known))
        {
            if (known.Ref.Equals(Sender)) return;
            OnLost(register.WorkerId, "restarted"); // the same id from a new actor: its old process is gone
        }
        _workers[register.WorkerId] = new Worker(register.WorkerId, Sender, Math.Max(1, register.Slots));
        _pending[register.WorkerId] = [];
        Context.Watch(Sender);
        if (!_started)
        {
            _observer.Info($"worker {register.WorkerId} registered ({register.Device}, {register.Slots} slot(s)); {_workers.Count}/{_job.MinWorkers}");
            if (_workers.Count >= _job.MinWorkers) Start();
            return;
        }
        while (_unassigned.TryDequeue(out var share)) Send(register.WorkerId, share);
    }

    private void Start()
    {
        _started = true;
        var workers = _workers.Values.OrderBy(w => w.WorkerId, StringComparer.Ordinal).ToArray();
        var shares = TaskAdder.Shares(_job.Data, workers.Select(w => w.Slots).ToArray());
        _observer.Info($"{_job.Data.TaskCount} new task(s) shared out over {workers.Length} worker(s): " +
                       string.Join(", ", workers.Select((w, i) => $"{w.WorkerId} {shares[i].Length}")));
        for (var i = 0; i < workers.Length; i++)
            if (shares[i].Length > 0) Send(workers[i].WorkerId, shares[i]);
        if (_job.Data.TaskCount == 0) Complete();
    }

    private void Send(string workerId, int[] tasks)
    {
        _pending[workerId].Add(tasks);
        Delivery.Send(_workers[workerId].Ref, new FitHeads(_job.RunId, _job.Spec, _job.Trained.Trunk, tasks, _job.Data.Fingerprint), Self);
    }

    private void OnFitted(HeadsFitted m)
    {
        if (_over || !_pending.TryGetValue(m.WorkerId, out var pending) || !_workers[m.WorkerId].Ref.Equals(Sender)) return;
        var share = pending.FindIndex(s => s.SequenceEqual(m.Tasks));
        if (share < 0) return; // a share this worker was not (or no longer) given
        pending.RemoveAt(share);
        _fitted.Add(m.ToFitted());
        if (_fitted.Sum(f => f.Tasks.Length) == _job.Data.TaskCount) Complete();
    }

    private void OnLost(string workerId, string how)
    {
        if (!_workers.Remove(workerId, out var worker)) return;
        Context.Unwatch(worker.Ref);
        var orphaned = _pending.Remove(workerId, out var shares) ? shares : [];
        if (_over || orphaned.Count == 0) return;
        foreach (var share in orphaned)
        {
            var to = _workers.Values.OrderBy(w => _pending[w.WorkerId].Sum(p => p.Sum(t => _labels[t])) / (double)w.Slots)
                .ThenBy(w => w.WorkerId, StringComparer.Ordinal).FirstOrDefault()?.WorkerId;
            if (to is null) _unassigned.Enqueue(share);
            else Send(to, share);
            _observer.Info(to is null
                ? $"worker {workerId} {how}: {share.Length} task(s) wait for a worker to register"
                : $"worker {workerId} {how}: its {share.Length} task(s) go to {to}");
        }
    }

    private void Complete()
    {
        _over = true;
        EndJob();
        _observer.Completed(_fitted);
    }

    private void Fail(Exception error)
    {
        if (_over) return;
        _over = true;
        EndJob();
        _observer.Failed(error);
    }

    private void EndJob()
    {
        foreach (var w in _workers.Values) w.Ref.Tell(new EndRun(_job.RunId));
    }
}
