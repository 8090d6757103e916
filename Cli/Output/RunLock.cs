using System.Diagnostics;
using System.Text.Json;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// One run per output directory: <c>OUT/.mtnn.lock</c> names the process that holds it (pid, host, the process's
/// start time, command), is created atomically, and is removed when the run's process ends. A lock whose process
/// is gone from this host (the pid is not running, or is another process started since: a restarted container
/// is pid 1 again) is stale and taken over with a message; one held by a live process, or by another host, whose
/// processes cannot be seen from here, refuses the run.
/// <para>
/// Taking over is itself exclusive: the taker first creates <c>OUT/.mtnn.lock.takeover</c> (create-new), then checks
/// the lock still holds the stale content it judged, replaces it, and removes the takeover file; a second taker finds
/// the takeover file, waits, and then sees the new lock, held by a live process. Without it two processes could each
/// delete the stale lock, one of them the other's fresh one, and both run. A takeover file older than
/// <see cref="TakeoverExpiry"/> is the remains of a taker that died in those milliseconds, and is removed.
/// </para>
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".mtnn.lock";
    public const string TakeoverName = ".mtnn.lock.takeover";
    public static readonly TimeSpan TakeoverExpiry = TimeSpan.FromSeconds(30);

    private const int EExist = 17; // errno of a create-new on a name that exists (the IOException's HResult on Linux)

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
        var takeover = Path.Combine(outDirectory, TakeoverName);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (TryCreate(path, content)) return new RunLock(path, content);
            if (clock.Elapsed > TakeoverExpiry + TakeoverExpiry)
                throw new IOException($"--out: cannot take {path}: other processes keep creating and removing it");
            var seen = ReadText(path);
            if (seen is null) continue; // released between our attempt and the read: try again
            var holder = Parse(seen);
            if (holder is null && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(2) && clock.Elapsed < TakeoverExpiry)
            {
                Thread.Sleep(50); // a lock being written this instant reads empty: not a torn one yet
                continue;
            }
            if (holder is not null && !IsStale(holder))
                throw new ArgumentException($"--out: {outDirectory} is in use by another run ({holder.Command}, pid {holder.Pid} on {holder.Host}, " +
                                            $"since {new DateTime(holder.StartedTicks, DateTimeKind.Utc):u}); wait for it to end or choose another --out" +
                                            (holder.Host == Environment.MachineName ? "" : $" (if that process is gone, delete {path})"));
            if (!TryCreate(takeover, content))
            {
                // another process is taking over: wait for it, then look again (its lock will be live)
                if (File.Exists(takeover) && DateTime.UtcNow - File.GetLastWriteTimeUtc(takeover) > TakeoverExpiry) File.Delete(takeover);
                if (clock.Elapsed > TakeoverExpiry + TakeoverExpiry)
                    throw new IOException($"--out: {takeover} stays; another process is taking over {path} (delete {takeover} if none is)");
                Thread.Sleep(50);
                continue;
            }
            try
            {
                if (ReadText(path) != seen) continue; // someone replaced it meanwhile: judge the new one
                info(holder is null
                    ? $"taking over {path}: it names no process"
                    : $"taking over the stale lock {path}: pid {holder.Pid} on {holder.Host} ({holder.Command}) is no longer running");
                File.Delete(path);
                if (TryCreate(path, content)) return new RunLock(path, content);
            }
            finally
            {
                File.Delete(takeover);
            }
        }
    }

    /// <summary>Creates <paramref name="path"/> holding <paramref name="content"/> if no file (nor link) is there; false if one is.</summary>
    private static bool TryCreate(string path, string content)
    {
        try
        {
            using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            using var writer = new StreamWriter(file);
            writer.Write(content);
            return true;
        }
        catch (IOException e) when (e.HResult == EExist || Path.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            return false; // there already (it may have gone again since: the caller looks)
        }
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or IOException)
        {
            return null;
        }
    }

    private static Holder? Parse(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<Holder>(text);
        }
        catch (JsonException)
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
