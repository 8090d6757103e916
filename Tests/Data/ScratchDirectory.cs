using System.IO.Compression;
using System.Text;

namespace MtnnCluster.Tests.Data;

/// <summary>A fresh directory under the system temp path, deleted with everything in it on dispose.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public string Root { get; } = Directory.CreateDirectory(
        Path.Combine(Path.GetTempPath(), "mtnn-data-tests-" + Guid.NewGuid().ToString("N"))).FullName;

    /// <summary>Writes UTF-8 text without a byte-order mark; returns the file's path.</summary>
    public string WriteText(string name, string text) => WriteBytes(name, Encoding.UTF8.GetBytes(text));

    public string WriteBytes(string name, byte[] bytes)
    {
        var path = Path.Combine(Root, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static byte[] Gzip(string text)
    {
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal))
            gzip.Write(Encoding.UTF8.GetBytes(text));
        return compressed.ToArray();
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
