using System.Runtime.InteropServices;

namespace MtnnCluster.Data;

/// <summary>
/// Checks, before anything starts, that a path given as input names a regular file that can be read. Every node
/// reads the data file more than once (the coordinator, each worker, again after a task move or a resume), so a
/// pipe, FIFO, device or socket, which yields its bytes once or never, is refused with what it is; opening a FIFO
/// without a writer would block the process before it could answer SIGTERM.
/// </summary>
public static class InputFile
{
    public static void RequireRegularFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"{option}: {path} is a directory, not a data file");
        var kind = Kind(path);
        if (kind is null)
        {
            if (!File.Exists(path)) throw new ArgumentException($"{option}: {path} does not exist");
        }
        else if (kind != "regular file")
            throw new ArgumentException($"{option}: {path} is a {kind}, which can be read only once (or blocks): every node reads the data file, " +
                                        "again after a task move or a resume; write it to a regular file first (for example zcat data.csv.gz > data.csv)");
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new ArgumentException($"{option}: {path} cannot be read ({e.Message})");
        }
    }

    /// <summary>What the path is (links followed), from statx(2) on Linux; null elsewhere or when it cannot be asked.</summary>
    private static string? Kind(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buffer = new byte[256]; // struct statx: stx_mode is the u16 at offset 28 on every architecture
        try
        {
            if (statx(AtCurrentDirectory, path, 0, StatxType, buffer) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        return (BitConverter.ToUInt16(buffer, 28) & 0xF000) switch
        {
            0x8000 => "regular file",
            0x1000 => "pipe or FIFO",
            0x2000 => "character device",
            0x6000 => "block device",
            0xC000 => "socket",
            0x4000 => "directory",
            _ => "special file",
        };
    }

    private const int AtCurrentDirectory = -100;
    private const uint StatxType = 1;

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
