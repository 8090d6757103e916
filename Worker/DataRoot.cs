using MtnnCluster.Data;
using MtnnCluster.Training;

namespace MtnnCluster.Worker;

/// <summary>
/// The directory a worker reads data from (<c>--data-root</c>): every file a run spec names (data, task weights) must
/// lie under it once links are followed, so that whoever can send a worker a spec cannot make it read elsewhere.
/// Without <c>--data-root</c> the root is fixed by the first spec the worker is given: the directory of its data as
/// the worker sees it (the common one when there are several files); later jobs must then read under it too.
/// </summary>
public sealed class DataRoot(string? root)
{
    private string? _root = root is null ? null : RealPath(Path.GetFullPath(root));

    /// <summary>The root in force (null until the first spec when none was given).</summary>
    public string? Root => _root;

    /// <summary>Throws <see cref="UnauthorizedAccessException"/> naming the first file of <paramref name="spec"/> outside the root.</summary>
    public void Require(RunSpec spec)
    {
        var files = spec.Dataset.Paths.Where(p => !SyntheticDataset.IsDescriptor(p)).ToList();
        if (spec.Optimizer.TaskWeights is { } weights) files.Add(weights);
        if (files.Count == 0) return;
        var real = files.Select(f => (Given: f, Real: RealPath(Path.GetFullPath(f)))).ToArray();
        _root ??= CommonDirectory(real.Where(f => spec.Dataset.Paths.Contains(f.Given)).Select(f => f.Real).DefaultIfEmpty(real[0].Real).ToArray());
        foreach (var (given, resolved) in real)
            if (!Under(resolved, _root))
                throw new UnauthorizedAccessException($"'{given}' is outside this worker's data root {_root} (--data-root): refused");
    }

    private static bool Under(string path, string root) =>
        path.Equals(root, StringComparison.Ordinal) || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string CommonDirectory(string[] files)
    {
        var common = Path.GetDirectoryName(files[0]) ?? "/";
        foreach (var file in files.Skip(1))
            while (!Under(file, common)) common = Path.GetDirectoryName(common) ?? "/";
        return common;
    }

    /// <summary>
    /// <paramref name="fullPath"/> with every link along it followed, component by component (a linked directory
    /// inside the root that points outside it is outside). Components that do not exist are kept as written.
    /// </summary>
    public static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                next = RealPath(Path.GetFullPath(target.FullName));
            current = next;
        }
        return current;
    }
}
