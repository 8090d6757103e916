using Akka.Actor;
using Akka.TestKit.Xunit2;
using MtnnCluster.Messages;
using MtnnCluster.Tests.Data;
using MtnnCluster.Training;
using MtnnCluster.Worker;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// Issue 17 item 5: a data file replaced under a running job is never served from the process cache, and a worker
/// that reads other bytes than the coordinator refuses the run, naming the file and both fingerprints.
/// </summary>
public sealed class DatasetFingerprintTests : TestKit, IDisposable
{
    private readonly ScratchDirectory _dir = new();

    void IDisposable.Dispose()
    {
        _dir.Dispose();
        Dispose();
    }

    private static readonly string[] Rows = Enumerable.Range(0, 40).Select(i => $"{new string('C', 1 + i % 7)}{(i % 3 == 0 ? "N" : "O")},{i % 2}").ToArray();

    private static RunSpec Spec(string path) => new(
        new DatasetSpec([path], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 8, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

    [Fact]
    public void A_file_replaced_with_its_modification_time_kept_is_prepared_again()
    {
        var path = _dir.WriteText("data.csv", "smiles,a\n" + string.Join('\n', Rows) + "\n");
        var written = File.GetLastWriteTimeUtc(path);
        var before = PreparedDataset.Load(Spec(path));

        File.WriteAllText(path, "smiles,a\n" + string.Join('\n', Rows.Reverse()) + "\n"); // the same rows, shuffled
        File.SetLastWriteTimeUtc(path, written);
        var after = PreparedDataset.Load(Spec(path));

        Assert.NotEqual(before.Fingerprint, after.Fingerprint);
        Assert.Equal(PreparedDataset.FileFingerprint(path), after.Fingerprint);
        Assert.Equal(Rows.Reverse().Select(r => r.Split(',')[0]), after.Smiles);
    }

    [Fact]
    public void A_worker_refuses_a_run_whose_data_differs_from_the_coordinator_s()
    {
        var path = _dir.WriteText("data.csv", "smiles,a\n" + string.Join('\n', Rows) + "\n");
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(Props.Create(() => new WorkerActor(new WorkerOptions("w", "cpu", 1, false), coordinator.Ref, new MtnnCluster.Collectives.InProcessGroups())));
        var nonce = coordinator.ExpectMsg<RegisterWorker>().Nonce;
        worker.Tell(new WorkerRegistered("w", nonce), coordinator.Ref); // the probe is the worker's coordinator: it echoes the nonce
        coordinator.IgnoreMessages(m => m is RegisterWorker);
        var theirs = new string('0', 64);

        worker.Tell(new StartRun("run-1", Spec(path), 0, [1], [0], [""], ExpectedFingerprint: theirs), coordinator.Ref);

        var failed = coordinator.ExpectMsg<WorkerFailed>(TimeSpan.FromSeconds(30));
        Assert.Contains(path, failed.Reason);
        Assert.Contains(PreparedDataset.FileFingerprint(path), failed.Reason);
        Assert.Contains(theirs, failed.Reason);

        worker.Tell(new StartRun("run-2", Spec(path), 0, [1], [0], [""], ExpectedFingerprint: PreparedDataset.FileFingerprint(path)), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(TimeSpan.FromSeconds(30));
    }
}
