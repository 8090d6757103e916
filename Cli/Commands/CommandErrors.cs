using MtnnCluster.Data;

namespace MtnnCluster.Cli.Commands;

/// <summary>Turns the errors a user can cause (bad options, bad files) into one clear line and exit code 2.</summary>
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
            return 2;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("cancelled");
            return 130;
        }
    }
}

/// <summary>How long a signalled process may take to shut down gracefully (the grace period must be longer).</summary>
public static class ShutdownTimeout
{
    public const int Seconds = 30;
}
