using System.CommandLine;
using MtnnCluster.Cli.Commands;

// SIGTERM cancels the command and waits this long for it to end (CoordinatedShutdown: a worker hands its tasks
// back and leaves, the coordinator writes a checkpoint); Kubernetes' terminationGracePeriodSeconds must exceed it.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(ShutdownTimeout.Seconds) };
return await MtnnCommandLine.InvokeAsync(args, invocation);
