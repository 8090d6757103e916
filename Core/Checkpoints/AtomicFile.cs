namespace MtnnCluster.Checkpoints;

/// <summary>
/// Writes a file whole or not at all: the bytes go to a new temporary name beside it, created exclusively (O_EXCL:
/// an existing file or a planted link at that name fails the write instead of being followed), are flushed to disk,
/// and the temporary is renamed over the target. A crash leaves the old file or the new one, never half of one,
/// and never a name that points elsewhere.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true); // on disk before the rename makes it the file: a power cut leaves no empty one
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // nothing after the rename; a half-written one would hold space the next try needs
        }
    }

    public static void WriteText(string path, string text) => Write(path, new System.Text.UTF8Encoding(false).GetBytes(text));
}
