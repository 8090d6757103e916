using System.Runtime.InteropServices;

namespace MtnnCluster.Model;

/// <summary>
/// Large byte arrays that are about to be filled. A fresh multi-megabyte array lands on memory the process has not
/// touched yet, and filling it takes one page fault per 4 KiB page: on this project's 2-core VM that was 45–50 ms
/// for a 16 MB tensor, more than the transfer and both checksums together (BENCHMARKS.md). On Linux the pages are
/// faulted in with one madvise(MADV_POPULATE_WRITE) call instead, which leaves the contents alone; where the kernel
/// lacks it (before 5.14) the call fails and the pages fault in one by one as before.
/// </summary>
public static partial class FreshArrays
{
    /// <summary>Below this, faults are few and the system call would cost more than it saves.</summary>
    public const int PrefaultBytes = 1 << 20;

    private const int MadvPopulateWrite = 23;
    private const int PageBytes = 4096;
    private static bool _unsupported = !OperatingSystem.IsLinux();

    /// <summary>An uninitialized array of <paramref name="length"/> bytes, its pages ready to be written: the caller writes every byte.</summary>
    public static byte[] ForWriting(int length)
    {
        var array = GC.AllocateUninitializedArray<byte>(length);
        if (length >= PrefaultBytes && !_unsupported) Prefault(array);
        return array;
    }

    private static unsafe void Prefault(byte[] array)
    {
        fixed (byte* data = array)
        {
            // whole pages inside the array only: the pages it shares with its neighbours are touched anyway
            var start = ((nint)data + PageBytes - 1) & ~(nint)(PageBytes - 1);
            var end = ((nint)data + array.Length) & ~(nint)(PageBytes - 1);
            if (end > start && madvise(start, (nuint)(end - start), MadvPopulateWrite) != 0) _unsupported = true;
        }
    }

    [LibraryImport("libc", SetLastError = false)]
    private static partial int madvise(nint address, nuint length, int advice);
}
