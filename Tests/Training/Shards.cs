using MtnnCluster.Collectives;
using MtnnCluster.Training.Run;

namespace MtnnCluster.Tests.Training;

/// <summary>Groups and layouts for driving <c>ShardTrainer</c>s directly: one worker alone, or N in memory.</summary>
internal static class Shards
{
    /// <summary>A group of one: nothing is ever sent.</summary>
    public static IProcessGroup Alone() => new InProcessGroups().Join(Guid.NewGuid().ToString("N"), 0, [null], TimeSpan.FromSeconds(10));

    /// <summary>One worker that owns <paramref name="tasks"/> of <paramref name="taskCount"/> (the others untrained).</summary>
    public static ShardLayout Owning(int taskCount, IEnumerable<int> tasks)
    {
        var ranks = Enumerable.Repeat(-1, taskCount).ToArray();
        foreach (var t in tasks) ranks[t] = 0;
        return new ShardLayout(0, [1], ranks);
    }

    public static ShardLayout OwningAll(int taskCount) => Owning(taskCount, Enumerable.Range(0, taskCount));
}
