using MtnnCluster.Data;

namespace MtnnCluster.Cli.Commands;

/// <summary>
/// What an mtnn process's exit code means, one thing each (docs/fault-tolerance.md, "Exit codes"; Kubernetes restarts a pod on any
/// code but 0).
/// </summary>
public static class ExitCodes
{
    /// <summary>The run is done (metrics written), or a worker's run ended and it left the cluster.</summary>
    public const int Done = 0;
    /// <summary>The run failed, or this node was downed, evicted, cut off, or waited too long for a peer.</summary>
    public const int Failed = 1;
    /// <summary>Bad input or configuration (options, data file, --out held by another run): nothing was started.</summary>
    public const int BadInput = 2;
    /// <summary>Stopped by SIGINT or SIGTERM before the run ended (a coordinator writes its snapshot first).</summary>
    public const int Interrupted = 130;
}

/// <summary>Turns every error into one clear line and its exit code (<see cref="ExitCodes"/>).</summary>
public static class CommandErrors
{
    public static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is ArgumentException or DataFormatException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("cancelled");
            return ExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            // a run that failed (a worker's error, a lost node): its message names the cause; no stack trace
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failed;
        }
    }
}

/// <summary>How long a signalled process may take to shut down gracefully (the grace period must be longer).</summary>
public static class ShutdownTimeout
{
    public const int Seconds = 30;
}
