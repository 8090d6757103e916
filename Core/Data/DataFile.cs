namespace MtnnCluster.Data;

/// <summary>Opens a data file for reading, decompressing it when it is gzip.</summary>
internal static class DataFile
{
    /// <summary>Gzip is recognised by its magic bytes, so a compressed file needs no .gz name.</summary>
    public static Stream OpenRead(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        try
        {
            Span<byte> magic = stackalloc byte[2];
            var isGzip = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            file.Position = 0;
            return isGzip ? new VerifiedGzipStream(file) : file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
