using MtnnCluster.Cli.Output;
using MtnnCluster.Tests.Data;
using Xunit;

namespace MtnnCluster.Tests.Output;

/// <summary>The output lock under contention: a stale lock has one taker, and add-tasks takes the lock too.</summary>
public sealed class RunLockTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A pid no process has now (pids are below 2^22 on Linux).</summary>
    private static int DeadPid()
    {
        for (var pid = 4_000_000; ; pid--)
            if (!Directory.Exists($"/proc/{pid}")) return pid;
    }

    [Fact]
    public async Task Two_takers_of_a_stale_lock_never_both_win()
    {
        var dead = DeadPid();
        for (var round = 0; round < 100; round++)
        {
            var outDirectory = Directory.CreateDirectory(Path.Combine(_dir.Root, $"out-{round}")).FullName;
            File.WriteAllText(Path.Combine(outDirectory, RunLock.FileName), $$"""{"Pid":{{dead}},"Host":"{{Environment.MachineName}}","StartedTicks":1,"Command":"mtnn train"}""");
            using var start = new Barrier(2);
            // both judge the same stale lock at the same moment; before, each deleted it (one the other's fresh lock) and both ran
            var takers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                try
                {
                    return RunLock.Acquire(outDirectory, "mtnn train", _ => { });
                }
                catch (ArgumentException e) when (e.Message.Contains("is in use by another run"))
                {
                    return null;
                }
            }, TaskCreationOptions.LongRunning)).ToArray();
            var won = (await Task.WhenAll(takers).WaitAsync(TimeSpan.FromSeconds(30))).Where(l => l is not null).ToArray();
            Assert.True(won.Length == 1, $"round {round}: {won.Length} takers hold the lock");
            foreach (var held in won) held!.Dispose();
            Assert.False(File.Exists(Path.Combine(outDirectory, RunLock.TakeoverName)));
        }
    }

    [Fact]
    public void A_takeover_file_left_by_a_taker_that_died_expires()
    {
        var outDirectory = Directory.CreateDirectory(Path.Combine(_dir.Root, "orphan")).FullName;
        File.WriteAllText(Path.Combine(outDirectory, RunLock.FileName), $$"""{"Pid":{{DeadPid()}},"Host":"{{Environment.MachineName}}","StartedTicks":1,"Command":"mtnn train"}""");
        var takeover = Path.Combine(outDirectory, RunLock.TakeoverName);
        File.WriteAllText(takeover, "");
        File.SetLastWriteTimeUtc(takeover, DateTime.UtcNow - RunLock.TakeoverExpiry - TimeSpan.FromSeconds(1));
        using var held = RunLock.Acquire(outDirectory, "mtnn train", _ => { });
        Assert.False(File.Exists(takeover));
    }
}
