using Akka.Actor;
using Akka.TestKit.Xunit2;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Messages;
using MtnnCluster.Tests.Data;
using MtnnCluster.Worker;
using Xunit;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// Run messages from the wrong actor are dropped and counted: a worker takes run messages only from the
/// coordinator that started its run, and the coordinator takes a reply only from the worker it names.
/// </summary>
public sealed class UnexpectedSenderTests : TestKit, IDisposable
{
    private readonly ScratchDirectory _dir = new();

    void IDisposable.Dispose()
    {
        _dir.Dispose();
        Dispose();
    }

    private MtnnCluster.Training.RunSpec Spec() => new(
        new MtnnCluster.Training.DatasetSpec([_dir.WriteText("d.csv", "smiles,a\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{new string('C', 1 + i % 7)}O,{i % 2}\n")))],
            "smiles", null, null, null),
        new MtnnCluster.Training.FeaturizerSpec(2, 64, false), new MtnnCluster.Training.SplitSpec(MtnnCluster.Training.SplitKind.Random, 0, 0.8, 0.1, 0.1),
        new MtnnCluster.Training.ModelSpec([8], 0), new MtnnCluster.Training.OptimizerSpec(1e-3, 0, 8, false),
        new MtnnCluster.Training.ScheduleSpec(MtnnCluster.Training.ScheduleKind.Joint, 1, 1, 1, 0), 0);

    [Fact]
    public void A_worker_drops_run_messages_that_do_not_come_from_its_coordinator()
    {
        var coordinator = CreateTestProbe();
        var stranger = CreateTestProbe();
        var worker = ActorOfAsTestActorRef<WorkerActor>(Props.Create(() => new WorkerActor(new WorkerOptions("w", "cpu", 1), coordinator.Ref, new MtnnCluster.Collectives.InProcessGroups())));
        var nonce = coordinator.ExpectMsg<RegisterWorker>().Nonce;
        worker.Tell(new WorkerRegistered("w", nonce), coordinator.Ref);
        coordinator.IgnoreMessages(m => m is RegisterWorker); // a periodic announcement may still be on its way

        worker.Tell(new StartRun("run-1", Spec(), 0, [1], [0], [""]), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(TimeSpan.FromSeconds(30));

        worker.Tell(new FetchHeads("run-1"), stranger.Ref);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, worker.UnderlyingActor.Dropped);

        worker.Tell(new FetchHeads("run-1"), coordinator.Ref);
        Assert.Equal("w", coordinator.ExpectMsg<HeadShard>().WorkerId);
        Assert.Equal(1, worker.UnderlyingActor.Dropped);
    }

    [Fact]
    public void The_coordinator_drops_a_reply_that_names_a_worker_it_does_not_come_from()
    {
        var member = CreateTestProbe();
        var impostor = CreateTestProbe();
        var job = new TrainJob("run-1", Spec(), Path.Combine(_dir.Root, "out"), MinWorkers: 1);
        var coordinator = ActorOfAsTestActorRef<CoordinatorActor>(Props.Create(() => new CoordinatorActor(job, new RunCompletion(TextWriter.Null, quiet: true))));

        coordinator.Tell(new RegisterWorker("w", "cpu", 1), member.Ref);
        member.ExpectMsg<WorkerRegistered>();
        var wireId = member.ExpectMsg<StartRun>(TimeSpan.FromSeconds(30)).RunId; // run-1~1: the run's first deployment
        Assert.StartsWith("run-1", wireId);

        coordinator.Tell(new WorkerReady(wireId, "w", 30, 30), impostor.Ref); // names the member, comes from elsewhere
        coordinator.Tell(new WorkerReady("run-2", "w", 30, 30), member.Ref);   // another run
        member.ExpectNoMsg(TimeSpan.FromMilliseconds(300));                    // so the run does not go on
        Assert.Equal(2, coordinator.UnderlyingActor.Dropped);

        coordinator.Tell(new WorkerReady(wireId, "w", 30, 30), member.Ref);
        member.ExpectMsg<TrainSteps>();
        Assert.Equal(2, coordinator.UnderlyingActor.Dropped);
    }

    /// <summary>A worker registered with <paramref name="coordinator"/> (its acknowledgement carrying the registration's nonce).</summary>
    private Akka.TestKit.TestActorRef<WorkerActor> Registered(Akka.TestKit.TestProbe coordinator, string? dataRoot = null)
    {
        var worker = ActorOfAsTestActorRef<WorkerActor>(Props.Create(() => new WorkerActor(new WorkerOptions("w", "cpu", 1, false, dataRoot), coordinator.Ref,
            new MtnnCluster.Collectives.InProcessGroups())));
        var nonce = coordinator.ExpectMsg<RegisterWorker>().Nonce;
        Assert.False(string.IsNullOrEmpty(nonce));
        worker.Tell(new WorkerRegistered("w", nonce), coordinator.Ref);
        coordinator.IgnoreMessages(m => m is RegisterWorker);
        return worker;
    }

    [Fact]
    public void A_stranger_cannot_start_fit_or_end_a_worker_nor_pose_as_its_coordinator()
    {
        var coordinator = CreateTestProbe();
        var stranger = CreateTestProbe();
        var worker = Registered(coordinator);
        var secret = _dir.WriteText("secret.txt", "root:SECRET-LINE\n");
        var spec = Spec();
        var reading = spec with { Dataset = spec.Dataset with { Paths = [secret] } };

        // an acknowledgement without the registration's nonce would have made the stranger this worker's coordinator
        worker.Tell(new WorkerRegistered("w"), stranger.Ref);
        worker.Tell(new WorkerRegistered("w", "00112233445566778899AABBCCDDEEFF"), stranger.Ref);
        worker.Tell(new StartRun("run-x~1", reading, 0, [1], [0], [""]), stranger.Ref);
        worker.Tell(new FitHeads("run-x", reading, [], [0], ""), stranger.Ref);
        worker.Tell(new EndRun("run-x"), stranger.Ref);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // before: a WorkerFailed quoting the file's first line
        Assert.Equal(5, worker.UnderlyingActor.RefusedCount);

        // its coordinator is still the one it registered with, and is obeyed
        worker.Tell(new StartRun("run-1~1", Spec(), 0, [1], [0], [""]), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(TimeSpan.FromSeconds(30));
        Assert.Equal(5, worker.UnderlyingActor.RefusedCount);
    }

    [Fact]
    public void A_failure_sent_over_the_wire_quotes_nothing_of_the_file()
    {
        var coordinator = CreateTestProbe();
        var worker = Registered(coordinator);
        var spec = Spec();
        var secret = _dir.WriteText("secret.csv", "SECRET-HEADER,x\nSECRET-ROW,1\n"); // no smiles column: the reader's error names the columns
        worker.Tell(new StartRun("run-1~1", spec with { Dataset = spec.Dataset with { Paths = [secret] } }, 0, [1], [0], [""]), coordinator.Ref);
        var failed = coordinator.ExpectMsg<WorkerFailed>(TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("SECRET", failed.Reason);
        Assert.Contains("worker w", failed.Reason);
    }

    [Fact]
    public void A_worker_reads_nothing_outside_its_data_root()
    {
        var coordinator = CreateTestProbe();
        var root = Directory.CreateDirectory(Path.Combine(_dir.Root, "root")).FullName;
        var worker = Registered(coordinator, root);
        var spec = Spec(); // its file is in the scratch directory, above the root
        worker.Tell(new StartRun("run-1~1", spec, 0, [1], [0], [""]), coordinator.Ref);
        Assert.Contains("outside this worker's data root", coordinator.ExpectMsg<WorkerFailed>(TimeSpan.FromSeconds(30)).Reason);

        // a link inside the root to a file outside it is outside too
        var link = Path.Combine(root, "linked.csv");
        File.CreateSymbolicLink(link, spec.Dataset.Paths[0]);
        worker.Tell(new StartRun("run-1~2", spec with { Dataset = spec.Dataset with { Paths = [link] } }, 0, [1], [0], [""]), coordinator.Ref);
        Assert.Contains("outside this worker's data root", coordinator.ExpectMsg<WorkerFailed>(TimeSpan.FromSeconds(30)).Reason);

        // and a ../ that climbs out of it
        worker.Tell(new StartRun("run-1~3", spec with { Dataset = spec.Dataset with { Paths = [Path.Combine(root, "..", Path.GetFileName(spec.Dataset.Paths[0]))] } }, 0, [1], [0], [""]),
            coordinator.Ref);
        Assert.Contains("outside this worker's data root", coordinator.ExpectMsg<WorkerFailed>(TimeSpan.FromSeconds(30)).Reason);

        File.Copy(spec.Dataset.Paths[0], Path.Combine(root, "d.csv"));
        worker.Tell(new StartRun("run-1~4", spec with { Dataset = spec.Dataset with { Paths = [Path.Combine(root, "d.csv")] } }, 0, [1], [0], [""]), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Without_a_data_root_the_first_run_fixes_it()
    {
        var coordinator = CreateTestProbe();
        var worker = Registered(coordinator);
        var spec = Spec();
        worker.Tell(new StartRun("run-1~1", spec, 0, [1], [0], [""]), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(TimeSpan.FromSeconds(30));
        var elsewhere = Path.Combine(Path.GetTempPath(), $"mtnn-elsewhere-{Guid.NewGuid():N}.csv");
        File.Copy(spec.Dataset.Paths[0], elsewhere);
        try
        {
            worker.Tell(new StartRun("run-2~1", spec with { Dataset = spec.Dataset with { Paths = [elsewhere] } }, 0, [1], [0], [""]), coordinator.Ref);
            Assert.Contains("outside this worker's data root", coordinator.FishForMessage<WorkerFailed>(_ => true, TimeSpan.FromSeconds(30)).Reason);
        }
        finally
        {
            File.Delete(elsewhere);
        }
    }

    [Fact]
    public void The_coordinator_takes_a_failure_only_from_the_worker_it_placed()
    {
        var member = CreateTestProbe();
        var impostor = CreateTestProbe();
        var job = new TrainJob("run-1", Spec(), Path.Combine(_dir.Root, "out"), MinWorkers: 1);
        var coordinator = ActorOfAsTestActorRef<CoordinatorActor>(Props.Create(() => new CoordinatorActor(job, new RunCompletion(TextWriter.Null, quiet: true))));
        coordinator.Tell(new RegisterWorker("w", "cpu", 1, null, "n1"), member.Ref);
        Assert.Equal("n1", member.ExpectMsg<WorkerRegistered>().Nonce);
        var wireId = member.ExpectMsg<StartRun>(TimeSpan.FromSeconds(30)).RunId;

        coordinator.Tell(new WorkerFailed(wireId, "w", "forged"), impostor.Ref); // before: the whole run failed
        coordinator.Tell(new WorkerLeaving("w"), impostor.Ref);
        member.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(MtnnCluster.Training.RunPhase.Deploying, coordinator.UnderlyingActor.Phase);
        Assert.Equal(1, coordinator.UnderlyingActor.RefusedCount);

        coordinator.Tell(new WorkerFailed(wireId, "w", "real"), member.Ref);
        member.FishForMessage<EndRun>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Equal(MtnnCluster.Training.RunPhase.Failed, coordinator.UnderlyingActor.Phase);
    }
}
