using System.Text.Json;
using MtnnCluster.Checkpoints;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// The one place that decides whether a run may write into an <c>--out</c> directory. A directory that already
/// holds a run (its metrics.json or checkpoint/) is refused unless the user passed <c>--overwrite</c> or the run is a
/// continuation of that same run; nothing is ever deleted here, and <see cref="RunWriter"/> replaces only the
/// files a run writes.
/// </summary>
public static class OutputDirectory
{
    public const string MetricsFile = "metrics.json";
    public const string CheckpointDirectory = "checkpoint";

    /// <summary>Checks that <paramref name="path"/> may receive a run; returns its full path.</summary>
    /// <param name="resumeRunId">The id of the run being resumed: its own outputs do not count as another run's.</param>
    public static string Claim(string path, bool overwrite, string? resumeRunId = null)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new ArgumentException($"--out: {full} is a file, not a directory");
        var held = new[] { MetricsFile, CheckpointDirectory, TrainingCheckpoint.DirectoryName }.Where(name => Path.Exists(Path.Combine(full, name))).ToArray();
        if (held.Length == 0 || overwrite) return full;
        var holder = RunIdIn(full) ?? CheckpointedRunIn(full);
        if (resumeRunId is not null && holder == resumeRunId) return full;
        throw new ArgumentException(
            $"--out: {full} already holds {(holder is null ? "another run" : $"run {holder}")} ({string.Join(", ", held)}); "
            + "choose another directory, continue it with --resume, or pass --overwrite to replace its outputs");
    }

    /// <summary>
    /// Checks that <paramref name="path"/> may receive a group of runs (<c>--seeds</c>, <c>--ensemble</c>): each run
    /// claims its own subdirectory; the group's metrics.json (and ensemble.json) at the top are replaced when it
    /// ends. Refused when the directory holds a single run, or a group's outputs unless <paramref name="overwrite"/>
    /// or <paramref name="resume"/> (<c>--resume auto</c>: the same group goes on).
    /// </summary>
    public static string ClaimGroup(string path, bool overwrite, bool resume)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new ArgumentException($"--out: {full} is a file, not a directory");
        var run = new[] { CheckpointDirectory, TrainingCheckpoint.DirectoryName }.Where(name => Path.Exists(Path.Combine(full, name))).ToArray();
        if (run.Length > 0 && !overwrite)
            throw new ArgumentException($"--out: {full} holds a single run ({string.Join(", ", run)}), not a group of runs; choose another directory or pass --overwrite");
        if (Path.Exists(Path.Combine(full, MetricsFile)) && !overwrite && !resume)
            throw new ArgumentException($"--out: {full} already holds the outputs of runs ({MetricsFile}); choose another directory, continue them with --resume auto, or pass --overwrite to replace them");
        return full;
    }

    /// <summary>
    /// The path of <paramref name="name"/> directly inside <paramref name="directory"/>, for names that come from data or
    /// from the wire (a run id, a task or worker name): one plain file name, never a path that climbs out or goes deeper.
    /// </summary>
    public static string Child(string directory, string name)
    {
        var root = Path.GetFullPath(directory);
        if (name.Length is 0 or > 200 || name is "." or ".." || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0
            || name.Contains('\\') || name.Any(char.IsControl))
            throw new ArgumentException($"'{(name.Length > 60 ? name[..60] + "…" : name)}' cannot be used as a file name under {root}");
        var path = Path.GetFullPath(Path.Combine(root, name));
        return Path.GetDirectoryName(path) == root.TrimEnd(Path.DirectorySeparatorChar)
            ? path
            : throw new ArgumentException($"'{name}' does not name a file directly under {root}");
    }

    /// <summary>The run whose training checkpoints are in the directory (the newest's run id); null if none can be read.</summary>
    public static string? CheckpointedRunIn(string directory) =>
        TrainingCheckpoint.List(Path.Combine(directory, TrainingCheckpoint.DirectoryName))
            .Select(d => ReadRunId(Path.Combine(d, "state.json"))).FirstOrDefault(id => id is not null);

    /// <summary>The run whose metrics.json is in the directory, that is the run that finished there; null if none.</summary>
    public static string? FinishedRunIn(string directory) => ReadRunId(Path.Combine(directory, MetricsFile));

    /// <summary>The run id recorded in a directory's checkpoint (or, failing that, its metrics.json); null if none can be read.</summary>
    public static string? RunIdIn(string directory) =>
        ReadRunId(Path.Combine(directory, CheckpointDirectory, "model.json")) ?? ReadRunId(Path.Combine(directory, MetricsFile));

    private static string? ReadRunId(string file)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(file));
            return document.RootElement.TryGetProperty("run_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
