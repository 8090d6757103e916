using System.CommandLine;
using MtnnCluster.Coordinator.Commands;

var root = new RootCommand("MtnnCluster: massively multitask neural networks on an Akka.NET cluster")
{
    TrainCommand.Create(),
    PredictCommand.Create(),
    FeaturizeCommand.Create(),
    ReportCommand.Create(),
    ClusterCommands.Coordinator(),
    ClusterCommands.Worker(),
};
return await root.Parse(args).InvokeAsync();
