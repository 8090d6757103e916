namespace MtnnCluster.Tests;

/// <summary>Locates files of this repository from the test assembly, wherever the build put it.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string File(string relative) => Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "MtnnCluster.sln"))) return dir.FullName;
        throw new InvalidOperationException($"MtnnCluster.sln not found above {AppContext.BaseDirectory}");
    }
}
