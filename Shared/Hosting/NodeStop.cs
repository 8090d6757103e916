using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace MtnnCluster.Hosting;

/// <summary>A worker's node stops because its run is over: the one reason that ends a worker process with 0.</summary>
public sealed class RunEndedReason : CoordinatedShutdown.Reason
{
    public static readonly RunEndedReason Instance = new();
    public override int ExitCode => 0;
}

/// <summary>A newer worker with the same id joined: this older one leaves, and its process exits 1.</summary>
public sealed class EvictedReason(string by) : CoordinatedShutdown.Reason
{
    public string By { get; } = by;
    public override int ExitCode => 1;
}

/// <summary>A node that stopped before its run ended, with why; the command line exits 1 on it.</summary>
public sealed class NodeStoppedException(string message) : Exception(message);

public static class NodeStop
{
    /// <summary>Why a node's actor system stopped, in words for the log (what CoordinatedShutdown was run for).</summary>
    public static string Describe(CoordinatedShutdown.Reason? reason) => reason switch
    {
        RunEndedReason => "the run is over",
        EvictedReason e => $"evicted: a newer worker with the same --id joined from {e.By}",
        CoordinatedShutdown.ClusterDowningReason => "downed by the split-brain resolver (cut off from the coordinator's side of the cluster, or frozen too long)",
        CoordinatedShutdown.ClusterJoinUnsuccessfulReason => "no seed node answered: it never joined the cluster",
        CoordinatedShutdown.ClusterLeavingReason => "removed from the cluster",
        null => "its actor system stopped",
        var other => $"its node stopped ({other.GetType().Name})",
    };
}

/// <summary>
/// Counts the workers a coordinator can reach (members with the worker role, joining or up, not unreachable) and
/// says when there has been none for longer than the limit (zero: never).
/// </summary>
public sealed class WorkerAbsence(TimeSpan limit)
{
    private TimeSpan? _absentSince;

    public TimeSpan Limit { get; } = limit;

    public bool Expired(int reachableWorkers, TimeSpan now)
    {
        if (reachableWorkers > 0)
        {
            _absentSince = null;
            return false;
        }
        _absentSince ??= now;
        return Limit > TimeSpan.Zero && now - _absentSince.Value >= Limit;
    }

    public static int ReachableWorkers(ClusterEvent.CurrentClusterState state) =>
        state.Members.Count(m => m.HasRole(ClusterNodeOptions.WorkerRole) && m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up
                                 && !state.Unreachable.Contains(m));

    /// <summary>Completes with true once no worker has been reachable for <see cref="Limit"/>; false when cancelled.</summary>
    public async Task<bool> WaitAsync(Cluster cluster, CancellationToken cancel)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!cancel.IsCancellationRequested)
        {
            if (Expired(ReachableWorkers(cluster.State), clock.Elapsed)) return true;
            try { await Task.Delay(TimeSpan.FromMilliseconds(500), cancel); }
            catch (OperationCanceledException) { return false; }
        }
        return false;
    }
}

/// <summary>
/// On a worker node: when another node with the same worker id joins and this node is the older of the two, this
/// node is the stale incarnation (the coordinator has already taken the newer one in its place): it leaves, so
/// that its process exits 1 instead of idling forever.
/// </summary>
public sealed class DuplicateIdWatch : ReceiveActor
{
    private readonly Cluster _cluster = Cluster.Get(Context.System);

    public DuplicateIdWatch(string workerId)
    {
        var role = ClusterNodeOptions.IdRole(workerId);
        Receive<ClusterEvent.MemberUp>(m =>
        {
            if (!m.Member.HasRole(role) || m.Member.UniqueAddress.Equals(_cluster.SelfUniqueAddress)) return;
            if (_cluster.SelfMember.Status != MemberStatus.Up || !_cluster.SelfMember.IsOlderThan(m.Member)) return;
            Context.GetLogger().Error("worker {0}: a newer worker with the same id joined from {1}; leaving", workerId, m.Member.Address);
            CoordinatedShutdown.Get(Context.System).Run(new EvictedReason(m.Member.Address.ToString()));
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberUp));

    protected override void PostStop() => _cluster.Unsubscribe(Self);
}
