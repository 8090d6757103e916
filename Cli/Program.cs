using System.CommandLine;
using MtnnCluster.Cli.Commands;

var root = new RootCommand("MtnnCluster: massively multitask neural networks on an Akka.NET cluster")
{
    TrainCommand.Create(),
    TuneCommand.Create(),
    PredictCommand.Create(),
    AddTasksCommand.Create(),
    FeaturizeCommand.Create(),
    ReportCommand.Create(),
    ClusterCommands.Coordinator(),
    ClusterCommands.Worker(),
};
// SIGTERM cancels the command and waits this long for it to end (CoordinatedShutdown: a worker hands its tasks
// back and leaves, the coordinator writes a checkpoint); Kubernetes' terminationGracePeriodSeconds must exceed it.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(ShutdownTimeout.Seconds) };
return await root.Parse(args).InvokeAsync(invocation);
