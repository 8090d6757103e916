using Akka.Actor;
using Akka.TestKit.Xunit2;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator;
using MtnnCluster.Messages;
using MtnnCluster.Tests.Commands;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Training;

/// <summary>
/// The <c>add-tasks</c> coordinator shares the new tasks out over the workers that registered, gives a lost
/// worker's share to one still there, and ends the job when every task is back.
/// </summary>
public sealed class TaskAdderActorTests : TestKit, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-adder-{Guid.NewGuid():N}");

    public TaskAdderActorTests() => Directory.CreateDirectory(_directory);

    void IDisposable.Dispose()
    {
        Directory.Delete(_directory, recursive: true);
        Dispose();
    }

    private sealed class Observer : ITaskAdderObserver
    {
        public readonly TaskCompletionSource<IReadOnlyList<FittedHeads>> Fitted = new();
        public void Info(string message) { }
        public void Completed(IReadOnlyList<FittedHeads> fitted) => Fitted.TrySetResult(fitted);
        public void Failed(Exception error) => Fitted.TrySetException(error);
    }

    [Fact]
    public async Task A_lost_worker_s_share_goes_to_the_worker_left_and_every_task_comes_back_once()
    {
        var trained = Checkpoint.Read(AddTasksFiles.TrainedCheckpoint(_directory));
        var spec = trained.Model.Spec with { Dataset = new DatasetSpec([AddTasksFiles.NewTasks(_directory)], "smiles", null, null, null) };
        var data = PreparedDataset.Load(spec);
        var observer = new Observer();
        var adder = Sys.ActorOf(Props.Create(() => new TaskAdderActor(new TaskAdderJob("add-1", trained, data, spec, 2), observer)));
        var (a, b) = (CreateTestProbe(), CreateTestProbe());
        adder.Tell(new RegisterWorker("a", "cpu", 1, ""), a.Ref);
        a.ExpectMsg<WorkerRegistered>();
        adder.Tell(new RegisterWorker("b", "cpu", 1, ""), b.Ref);
        b.ExpectMsg<WorkerRegistered>();

        var toA = a.ExpectMsg<FitHeads>();
        var toB = b.ExpectMsg<FitHeads>();
        Assert.Equal([0, 1], toA.Tasks.Concat(toB.Tasks).Order()); // each new task to one worker

        Sys.Stop(a.Ref); // lost before it answered
        var moved = b.ExpectMsg<FitHeads>(TimeSpan.FromSeconds(10));
        Assert.Equal(toA.Tasks, moved.Tasks);

        using var trunk = new MtnnCluster.Model.FingerprintTrunk(data.FeatureSize, spec.Model.Layers, spec.Seed, CPU);
        trunk.Load(trained.Trunk);
        foreach (var request in new[] { toB, moved })
            adder.Tell(HeadsFitted.Of("add-1", "b", TaskAdder.Fit(trunk, data, request.Tasks, spec.Seed, CPU)), b.Ref);
        b.ExpectMsg<EndRun>();

        var fitted = await observer.Fitted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([0, 1], fitted.SelectMany(f => f.Tasks).Order());
        // the heads are those of one process fitting every task
        var whole = TaskAdder.Add(trained, data, CPU);
        var assembled = TaskAdder.Assemble(trained, data, fitted, 0);
        AddTasksFiles.AssertSameHeads(whole.Checkpoint, assembled.Checkpoint);
    }

    [Fact]
    public void Shares_cover_every_task_once_in_proportion_to_slots_by_labels()
    {
        var spec = Checkpoint.Read(AddTasksFiles.TrainedCheckpoint(_directory)).Model.Spec;
        var lines = new List<string> { "smiles,task,label" };
        for (var t = 0; t < 12; t++)
            for (var n = 0; n < 4 + 3 * t; n++) lines.Add($"{new string('C', 1 + n)}{(n % 2 == 0 ? "O" : "N")},t{t},{n % 2}");
        var path = Path.Combine(_directory, "many.csv");
        File.WriteAllLines(path, lines);
        var data = PreparedDataset.Load(spec with { Dataset = new DatasetSpec([path], "smiles", null, null, null) });

        var shares = TaskAdder.Shares(data, [1, 2]);
        Assert.Equal(Enumerable.Range(0, 12), shares.SelectMany(s => s).Order());
        var labels = shares.Select(s => s.Sum(t => 4.0 + 3 * int.Parse(data.Tasks[t].Name[1..]))).ToArray();
        Assert.InRange(labels[1] / labels[0], 1.8, 2.2); // twice the slots, about twice the labels (the fits' cost)

        // fewer tasks than workers: a worker may have none
        var two = PreparedDataset.Load(spec with { Dataset = new DatasetSpec([AddTasksFiles.NewTasks(_directory)], "smiles", null, null, null) });
        var three = TaskAdder.Shares(two, [1, 1, 1]);
        Assert.Equal([1, 1, 0], three.Select(s => s.Length));
    }
}
