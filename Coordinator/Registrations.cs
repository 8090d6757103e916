using Akka.Actor;
using Akka.Cluster;
using MtnnCluster.Hosting;

namespace MtnnCluster.Coordinator;

/// <summary>
/// Who may register as a worker. In a cluster, a registration must come from a member that is up, has the worker
/// role and carries the id's role (<see cref="ClusterNodeOptions.IdRole"/>): a process that merely reaches the
/// coordinator's port cannot register, nor can a member register under an id its node did not join with. An id
/// already registered from another actor is refused while that one is still reachable: the first holder keeps it,
/// and a restarted worker is taken once its old incarnation is unreachable or gone (a few seconds).
/// </summary>
internal static class Registrations
{
    public static bool FromMember(ActorSystem system, IActorRef sender, string workerId)
    {
        if (system is not ExtendedActorSystem { Provider: IClusterActorRefProvider }) return true; // one process (train): no strangers
        var state = Cluster.Get(system).State;
        var member = state.Members.FirstOrDefault(m => m.Address.Equals(sender.Path.Address));
        return member is { Status: MemberStatus.Up or MemberStatus.WeaklyUp }
               && member.HasRole(ClusterNodeOptions.WorkerRole) && member.HasRole(ClusterNodeOptions.IdRole(workerId));
    }

    /// <summary>True while <paramref name="holder"/> (the actor an id is registered to) is on a member no node has found unreachable.</summary>
    public static bool StillHeld(ActorSystem system, IActorRef holder)
    {
        if (system is not ExtendedActorSystem { Provider: IClusterActorRefProvider }) return false;
        var state = Cluster.Get(system).State;
        return state.Members.Any(m => m.Address.Equals(holder.Path.Address) && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp)
               && !state.Unreachable.Any(m => m.Address.Equals(holder.Path.Address));
    }
}
