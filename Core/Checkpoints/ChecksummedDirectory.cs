using System.Security.Cryptography;
using System.Text.Json;

namespace MtnnCluster.Checkpoints;

/// <summary>
/// A directory of files and a <c>manifest.json</c> with the SHA-256 of each, written to a temporary name beside it
/// and renamed into place (a reader never sees half of one), and read back only when every checksum matches.
/// </summary>
public static class ChecksummedDirectory
{
    public const string ManifestFile = "manifest.json";

    public static void Write(string directory, IReadOnlyDictionary<string, byte[]> files)
    {
        var full = Path.GetFullPath(directory);
        var parent = Path.GetDirectoryName(full) ?? throw new IOException($"{directory}: no parent directory");
        Directory.CreateDirectory(parent);
        var temporary = Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        if (Path.Exists(temporary) || new FileInfo(temporary).LinkTarget is not null) throw new IOException($"{temporary} already exists"); // never write through a planted name
        Directory.CreateDirectory(temporary);
        try
        {
            var manifest = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, bytes) in files)
            {
                if (name == ManifestFile || name != Path.GetFileName(name)) throw new ArgumentException($"'{name}' cannot be a file of a checksummed directory");
                using (var stream = new FileStream(Path.Combine(temporary, name), FileMode.CreateNew, FileAccess.Write))
                {
                    stream.Write(bytes);
                    stream.Flush(flushToDisk: true);
                }
                manifest[name] = Convert.ToHexStringLower(SHA256.HashData(bytes));
            }
            using (var stream = new FileStream(Path.Combine(temporary, ManifestFile), FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(JsonSerializer.SerializeToUtf8Bytes(manifest, Checkpoint.Json));
                stream.Flush(flushToDisk: true); // on disk before the rename publishes the directory
            }
            if (Directory.Exists(full))
            {
                var old = $"{temporary}.old";
                Directory.Move(full, old);
                Directory.Move(temporary, full);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(temporary, full);
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
    }

    /// <summary>The named files, each verified against the manifest; a missing file or a mismatch names the file.</summary>
    public static Dictionary<string, byte[]> Read(string directory, IEnumerable<string> names)
    {
        var manifestPath = Path.Combine(directory, ManifestFile);
        if (!File.Exists(manifestPath)) throw new InvalidDataException($"{directory}: not a checkpoint ({ManifestFile} missing)");
        Dictionary<string, string> manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(manifestPath), Checkpoint.Json)
                       ?? throw new InvalidDataException($"{manifestPath}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{manifestPath}: not a manifest ({e.Message})");
        }
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing");
            var bytes = File.ReadAllBytes(path);
            if (!manifest.TryGetValue(name, out var expected) || !string.Equals(expected, Convert.ToHexStringLower(SHA256.HashData(bytes)), StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"{path}: SHA-256 does not match {ManifestFile}; the checkpoint is damaged");
            files[name] = bytes;
        }
        return files;
    }
}
