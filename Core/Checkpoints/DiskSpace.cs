namespace MtnnCluster.Checkpoints;

/// <summary>Tells a full disk from other I/O errors: only that one is helped by removing old checkpoints.</summary>
public static class DiskSpace
{
    private const int NoSpaceErrno = 28; // ENOSPC: .NET on Unix puts the errno in HResult
    private const int DiskFull = unchecked((int)0x80070070), HandleDiskFull = unchecked((int)0x80070027); // Windows

    public static bool IsFull(IOException e) => e.HResult is NoSpaceErrno or DiskFull or HandleDiskFull;
}
