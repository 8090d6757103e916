using MtnnCluster.Collectives;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

/// <summary>
/// Tests of groups: each rank runs on its own thread, as each worker calls from its own, every wait is bounded so
/// that a hang fails the test instead of stalling the run, and what a test opens is disposed after it.
/// </summary>
public abstract class RankTest : IDisposable
{
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly List<IDisposable> _owned = [];

    protected T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) owned.Dispose();
    }

    /// <summary>Rank r joins a fresh group through <paramref name="factories"/>[r] (the same factory for every rank in one process).</summary>
    protected IProcessGroup[] JoinAll(IReadOnlyList<IProcessGroupFactory> factories)
    {
        var id = "group-" + Guid.NewGuid().ToString("N");
        var endpoints = factories.Select(f => f.Endpoint).ToArray();
        return OnEveryRank(factories.Count, r => Own(factories[r].Join(id, r, endpoints, Bound)));
    }

    /// <summary>Runs <paramref name="body"/> for every rank on its own thread and returns the ranks' results in rank order.</summary>
    protected static T[] OnEveryRank<T>(int size, Func<int, T> body)
    {
        var ranks = Enumerable.Range(0, size).Select(r => Task.Factory.StartNew(() => body(r), TaskCreationOptions.LongRunning)).ToArray();
        Assert.True(Task.WaitAll(ranks, Bound), "a rank did not finish in time");
        return ranks.Select(t => t.Result).ToArray();
    }

    protected static void OnEveryRank(IProcessGroup[] group, Action<IProcessGroup> body) =>
        OnEveryRank(group.Length, r =>
        {
            body(group[r]);
            return 0;
        });
}
