using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Collectives;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh collectives</c>: the two collectives of a hybrid step, 2 and 3 ranks on threads of this process,
/// through <see cref="InProcessGroups"/> and through <see cref="TcpProcessGroups"/> on 127.0.0.1 (one factory, so
/// one listener, per rank, as one per process). All-reduce of a trunk-sized buffer: median seconds per call and
/// algorithm bandwidth (buffer bytes / seconds, as NCCL's tests report it). All-to-all of a batch's activations
/// per peer (128 rows × 100 floats): median latency.
/// </summary>
public static class CollectivesBench
{
    private const int Warmup = 3;

    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "measured calls per case (after 3 warm-up calls)", DefaultValueFactory = _ => 30 };
        var floats = new Option<int>("--floats") { Description = "all-reduce buffer length (default: about the default trunk's parameters)", DefaultValueFactory = _ => 2_300_000 };
        var rows = new Option<int>("--rows") { Description = "all-to-all rows per peer (of 100 floats)", DefaultValueFactory = _ => 128 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("collectives", "all-reduce and all-to-all of 2 and 3 ranks: in process, over TCP loopback, and TCP with shared-memory reductions") { rounds, floats, rows, json };
        command.SetAction(parse =>
        {
            var report = new BenchReport("collectives");
            report.Note(BenchReport.Machine);
            var (calls, length, perPeer) = (parse.GetValue(rounds), parse.GetValue(floats), parse.GetValue(rows) * 100);
            report.Add("allreduce_floats", length);
            report.Add("alltoall_floats_per_peer", perPeer);
            foreach (var transport in new[] { "inprocess", "tcp", "shm" })
            foreach (var size in new[] { 2, 3 })
            {
                var disposables = new List<IDisposable>();
                try
                {
                    var group = Open(transport, size, disposables);
                    var reduce = Median(OnEveryRank(size, r =>
                    {
                        var buffer = new float[length];
                        buffer.AsSpan().Fill(r);
                        return Time(calls, () => group[r].AllReduceSum(buffer));
                    })[0]);
                    report.Add($"{transport}_{size}_allreduce_ms", reduce * 1e3);
                    report.Add($"{transport}_{size}_allreduce_gb_per_s", length * sizeof(float) / reduce / 1e9);
                    var exchange = Median(OnEveryRank(size, r =>
                    {
                        // the same arrays every call: no rank writes what it received, so handing them over in memory is safe here
                        var send = Enumerable.Range(0, size).Select(_ => new float[perPeer]).ToArray();
                        return Time(calls, () => group[r].AllToAll(send));
                    })[0]);
                    report.Add($"{transport}_{size}_alltoall_us", exchange * 1e6);
                }
                finally
                {
                    foreach (var d in Enumerable.Reverse(disposables)) d.Dispose();
                }
            }
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    private static IProcessGroup[] Open(string transport, int size, List<IDisposable> disposables)
    {
        IProcessGroupFactory[] factories;
        if (transport is "tcp" or "shm")
        {
            // "shm": TCP groups whose reductions go through shared memory, the ranks being on one host
            var tcp = Enumerable.Range(0, size).Select(_ => new TcpProcessGroups("127.0.0.1", "127.0.0.1", sameHostMemory: transport == "shm")).ToArray();
            disposables.AddRange(tcp);
            factories = tcp;
        }
        else
            factories = Enumerable.Repeat<IProcessGroupFactory>(new InProcessGroups(), size).ToArray();
        var endpoints = factories.Select(f => f.Endpoint).ToArray();
        var group = OnEveryRank(size, r => factories[r].Join($"bench-{transport}-{size}", r, endpoints, TimeSpan.FromSeconds(30)));
        disposables.AddRange(group);
        return group;
    }

    /// <summary>Seconds of each of <paramref name="calls"/> calls, after the warm-up.</summary>
    private static double[] Time(int calls, Action call)
    {
        for (var i = 0; i < Warmup; i++) call();
        var seconds = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            call();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        return seconds;
    }

    private static T[] OnEveryRank<T>(int size, Func<int, T> body)
    {
        var ranks = Enumerable.Range(0, size).Select(r => Task.Factory.StartNew(() => body(r), TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(ranks);
        return ranks.Select(t => t.Result).ToArray();
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
