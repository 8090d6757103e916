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
        coordinator.ExpectMsg<RegisterWorker>();
        worker.Tell(new WorkerRegistered("w"), coordinator.Ref);
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
}
