using Akka.Actor;
using Akka.Event;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Training;

namespace MtnnCluster.Coordinator;

/// <summary>One run of a group (a seed of <c>--seeds</c>, a member of <c>--ensemble</c>, a trial) and who hears how it goes.</summary>
public sealed record GroupJob(TrainJob Job, ITrainingObserver Observer);

/// <summary>
/// The jobs a <see cref="JobsActor"/> is to run, given by the command as it goes (a search adds a rung's trials when
/// the last rung's have ended), then closed. <see cref="Released"/> completes once every job has ended, the feed is
/// closed, and every worker has been told to leave.
/// </summary>
public sealed class JobFeed
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<GroupJob> _jobs = new();
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;

    public JobFeed(IEnumerable<GroupJob>? jobs = null, bool closed = false)
    {
        foreach (var job in jobs ?? []) Add(job);
        _closed = closed;
    }

    public void Add(GroupJob job)
    {
        if (_closed) throw new InvalidOperationException("the feed is closed");
        if (!job.Job.KeepWorkers) throw new ArgumentException("a group's jobs must keep their workers for the next job (TrainJob.KeepWorkers)");
        _jobs.Enqueue(job);
    }

    public void Close() => _closed = true;
    public bool Closed => _closed;
    public Task Released => _released.Task;
    internal bool TryTake(out GroupJob job) => _jobs.TryDequeue(out job!);
    internal bool HasWaiting => !_jobs.IsEmpty;
    internal void Release() => _released.TrySetResult();
}

/// <summary>
/// The coordinator of a group of independent runs (<c>--seeds</c>, <c>--ensemble</c>): each run is a job with a
/// <see cref="CoordinatorActor"/> of its own, a child of this one, and the runs go on at the same time on different
/// workers. Workers register here as with any coordinator; each is handed (its registration forwarded) to the first
/// job still short of its <see cref="TrainJob.MinWorkers"/>, and from then on talks to that job's coordinator
/// alone. A job that ends keeps its workers (<see cref="EndRun.KeepWorker"/>): they register here again and go to
/// the next job that needs them. A worker no job needs is left unanswered, so it keeps announcing itself. When every
/// job has ended, every worker is told the group is over. Losses are each job's own coordinator's business.
/// </summary>
public sealed class JobsActor : ReceiveActor, IWithTimers
{
    private sealed record JobEnded(int Index) : INoSerializationVerificationNeeded;
    private sealed class Poll : INoSerializationVerificationNeeded { public static readonly Poll Instance = new(); }

    /// <summary>Tells the job's own observer everything, and this actor when the job has ended.</summary>
    private sealed class JobObserver(ITrainingObserver inner, IActorRef jobs, int index) : ITrainingObserver
    {
        public void Info(string message) => inner.Info(message);
        public void EpochCompleted(EpochReport report) => inner.EpochCompleted(report);
        public void StepCompleted(StepProgress progress) => inner.StepCompleted(progress);
        public void StatusChanged(RunStatus status) => inner.StatusChanged(status);
        public void Completed(RunOutcome outcome)
        {
            inner.Completed(outcome);
            jobs.Tell(new JobEnded(index));
        }
        public void Failed(Exception error)
        {
            inner.Failed(error);
            jobs.Tell(new JobEnded(index));
        }
    }

    private readonly List<GroupJob> _jobs = [];
    private readonly string _groupId;
    private readonly JobFeed _feed;
    private readonly List<IActorRef?> _coordinators = [];
    private readonly List<bool> _ended = [];
    private readonly int _startWith;
    private bool _released, _started;
    private readonly Dictionary<string, int> _jobOf = new(StringComparer.Ordinal); // worker id → the job it was handed to
    private readonly Dictionary<string, IActorRef> _workers = new(StringComparer.Ordinal); // every worker that registered
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// A group whose jobs come from <paramref name="feed"/> until it is closed; no job starts before
    /// <paramref name="startWith"/> workers have registered (a cluster assembled before the work is shared out).
    /// </summary>
    public JobsActor(string groupId, JobFeed feed, int startWith = 1)
    {
        if (startWith < 1) throw new ArgumentException($"a group starts with at least one worker (got {startWith})");
        (_groupId, _feed, _startWith) = (groupId, feed, startWith);
        TakeNewJobs();
        Receive<Poll>(_ =>
        {
            TakeNewJobs();
            ReleaseIfOver();
        });

        Receive<RegisterWorker>(OnRegister);
        Receive<WorkerLeaving>(m =>
        {
            if (_jobOf.TryGetValue(m.WorkerId, out var job) && !_ended[job]) _coordinators[job]!.Forward(m);
        });
        Receive<Terminated>(t =>
        {
            foreach (var (id, _) in _workers.Where(w => w.Value.Equals(t.ActorRef)).ToArray())
            {
                _workers.Remove(id);
                _jobOf.Remove(id); // its job's coordinator saw it go too, and waits for another
            }
        });
        Receive<JobEnded>(m =>
        {
            _ended[m.Index] = true;
            foreach (var id in _jobOf.Where(j => j.Value == m.Index).Select(j => j.Key).ToArray()) _jobOf.Remove(id);
            ReleaseIfOver();
        });
    }

    protected override void PreStart() => Timers.StartPeriodicTimer("poll", Poll.Instance, TimeSpan.FromMilliseconds(250));

    private void TakeNewJobs()
    {
        while (_feed.TryTake(out var job))
        {
            _jobs.Add(job);
            _coordinators.Add(null);
            _ended.Add(false);
        }
    }

    private bool Over => _feed.Closed && _ended.All(e => e) && !_feed.HasWaiting;

    /// <summary>Every job ended and no more to come: every worker is told the group is over, and may leave.</summary>
    private void ReleaseIfOver()
    {
        if (_released || !Over) return;
        _released = true;
        foreach (var worker in _workers.Values) worker.Tell(new EndRun(_groupId));
        _feed.Release();
    }

    private void OnRegister(RegisterWorker register)
    {
        if (!Registrations.FromMember(Context.System, Sender, register.WorkerId)
            || _workers.TryGetValue(register.WorkerId, out var holder) && !holder.Equals(Sender) && Registrations.StillHeld(Context.System, holder))
        {
            MtnnCluster.Telemetry.MtnnTelemetry.Refused(nameof(JobsActor), nameof(RegisterWorker));
            _log.Warning("refused a registration as worker {0} from {1}: not a worker member with that id, or the id is held by a reachable worker",
                register.WorkerId, Sender.Path);
            return;
        }
        if (!_workers.TryGetValue(register.WorkerId, out var known)) Context.Watch(Sender);
        else if (!known.Equals(Sender))
        {
            Context.Unwatch(known);
            _jobOf.Remove(register.WorkerId); // a new process under the same id: the old one is gone
            Context.Watch(Sender);
        }
        _workers[register.WorkerId] = Sender;
        if (!_started && _workers.Count < _startWith) return; // unanswered until enough have come: they register again
        _started = true;
        if (!_jobOf.TryGetValue(register.WorkerId, out var job))
        {
            TakeNewJobs();
            var needing = Enumerable.Range(0, _jobs.Count).Where(j => !_ended[j] && Assigned(j) < _jobs[j].Job.MinWorkers).Cast<int?>().FirstOrDefault();
            if (needing is null)
            {
                if (_released)
                {
                    // acknowledged first (its nonce echoed): a worker takes its end only from the coordinator it registered with
                    Sender.Tell(new WorkerRegistered(register.WorkerId, register.Nonce));
                    Sender.Tell(new EndRun(_groupId));
                }
                return; // no job needs it now: unanswered, it registers again in a moment
            }
            job = needing.Value;
            _jobOf[register.WorkerId] = job;
            _log.Info("worker {0} goes to job {1} ({2})", register.WorkerId, job, _jobs[job].Job.RunId);
        }
        Coordinator(job).Forward(register);
    }

    private int Assigned(int job) => _jobOf.Values.Count(j => j == job);

    private IActorRef Coordinator(int job) => _coordinators[job] ??= Context.ActorOf(
        Props.Create(() => new CoordinatorActor(_jobs[job].Job, new JobObserver(_jobs[job].Observer, Self, job))).WithDispatcher(MtnnAkkaExtensions.ComputeDispatcher),
        $"job-{job}");
}
