namespace MtnnCluster.Data;

/// <summary>Opens a data file for reading, decompressing it when it is gzip.</summary>
internal static class DataFile
{
    /// <summary>
    /// The field separator of a data file: a tab for <c>.tsv</c> and <c>.tab</c> names (gzip too), or for a header that
    /// holds tabs and no comma (a tab-separated file under another name); a comma otherwise.
    /// </summary>
    public static char Separator(string path)
    {
        var name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        if (name.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".tab", StringComparison.OrdinalIgnoreCase)) return '\t';
        if (name.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)) return ',';
        try
        {
            using var stream = OpenRead(path);
            using var text = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var header = text.ReadLine() ?? "";
            return header.Contains('\t') && !header.Contains(',') ? '\t' : ',';
        }
        catch (InvalidDataException)
        {
            return ','; // a damaged gzip stream: the reader that follows names the line
        }
    }

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
