using System.Diagnostics;
using System.Text.Json;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// One run per output directory: <c>OUT/.mtnn.lock</c> names the process that holds it (pid, host, the process's
/// start time, command), is created atomically, and is removed when the run's process ends. A lock whose process
/// is gone from this host (the pid is not running, or is another process started since: a restarted container
/// is pid 1 again) is stale and taken over with a message; one held by a live process, or by another host, whose
/// processes cannot be seen from here, refuses the run.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".mtnn.lock";

    private readonly string _path;
    private readonly string _content;

    private RunLock(string path, string content)
    {
        _path = path;
        _content = content;
    }

    private sealed record Holder(int Pid, string Host, long StartedTicks, string Command);

    public static RunLock Acquire(string outDirectory, string command, Action<string> info)
    {
        // said here, first thing: creating the directory would fail with .NET's "The file '…' already exists."
        if (File.Exists(outDirectory)) throw new ArgumentException($"--out: {Path.GetFullPath(outDirectory)} is a file, not a directory");
        Directory.CreateDirectory(outDirectory);
        var path = Path.Combine(outDirectory, FileName);
        using var self = Process.GetCurrentProcess();
        var content = JsonSerializer.Serialize(new Holder(Environment.ProcessId, Environment.MachineName, self.StartTime.ToUniversalTime().Ticks, command));
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                using (var writer = new StreamWriter(file))
                    writer.Write(content);
                return new RunLock(path, content);
            }
            catch (IOException) when (File.Exists(path) && attempt == 0)
            {
                var holder = Read(path);
                if (holder is not null && !IsStale(holder))
                    throw new ArgumentException($"--out: {outDirectory} is in use by another run ({holder.Command}, pid {holder.Pid} on {holder.Host}, " +
                                                $"since {new DateTime(holder.StartedTicks, DateTimeKind.Utc):u}); wait for it to end or choose another --out" +
                                                (holder.Host == Environment.MachineName ? "" : $" (if that process is gone, delete {path})"));
                info(holder is null
                    ? $"taking over {path}: it names no process"
                    : $"taking over the stale lock {path}: pid {holder.Pid} on {holder.Host} ({holder.Command}) is no longer running");
                File.Delete(path);
            }
        }
    }

    private static Holder? Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Holder>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return null; // a lock torn by a crash mid-write holds no process
        }
    }

    private static bool IsStale(Holder holder)
    {
        if (holder.Host != Environment.MachineName) return false;
        try
        {
            using var process = Process.GetProcessById(holder.Pid);
            // .NET derives a start time from boot time and uptime, read anew each time: equal to within a second
            return process.HasExited || Math.Abs(process.StartTime.ToUniversalTime().Ticks - holder.StartedTicks) > TimeSpan.TicksPerSecond;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return true; // no such process
        }
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(_path) && File.ReadAllText(_path) == _content) File.Delete(_path);
        }
        catch (IOException)
        {
            // the directory went away with the run's outputs: nothing to release
        }
    }
}
