using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace MtnnCluster.Tests.Architecture;

/// <summary>
/// The arrows between the assemblies point one way: Core ← Shared (cluster plumbing) ← Coordinator, Worker ← Cli.
/// The core knows nothing of actors or the wire: no Akka, no MessagePack, no cluster namespace.
/// </summary>
public sealed class LayeringTests
{
    private static readonly string[] ClusterNamespaces =
        ["MtnnCluster.Messages", "MtnnCluster.Serialization", "MtnnCluster.Transport", "MtnnCluster.Hosting", "MtnnCluster.Coordinator", "MtnnCluster.Worker", "MtnnCluster.Cli"];

    private static readonly (string Project, string[] MayReference)[] Layers =
    [
        ("Core/MtnnCluster.Core.csproj", []),
        ("Shared/MtnnCluster.Shared.csproj", ["Core"]),
        ("Coordinator/MtnnCluster.Coordinator.csproj", ["Shared"]),
        ("Worker/MtnnCluster.Worker.csproj", ["Shared"]),
        ("Cli/MtnnCluster.Cli.csproj", ["Core", "Shared", "Coordinator", "Worker"]),
    ];

    [Fact]
    public void The_core_project_references_no_Akka_or_MessagePack_package()
    {
        var project = XDocument.Load(RepoPaths.File("Core/MtnnCluster.Core.csproj"));
        var packages = project.Descendants("PackageReference").Select(p => (string?)p.Attribute("Include") ?? "").ToArray();
        Assert.NotEmpty(packages); // TorchSharp at least: the test reads the real file
        Assert.DoesNotContain(packages, p => p.StartsWith("Akka", StringComparison.OrdinalIgnoreCase) || p.StartsWith("MessagePack", StringComparison.OrdinalIgnoreCase)
                                             || p.StartsWith("OpenTelemetry", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(project.Descendants("ProjectReference"));
    }

    [Fact]
    public void The_core_assembly_loads_no_cluster_assembly()
    {
        var core = typeof(MtnnCluster.Training.RunSpec).Assembly;
        Assert.Equal("MtnnCluster.Core", core.GetName().Name);
        var referenced = core.GetReferencedAssemblies().Select(a => a.Name ?? "").ToArray();
        Assert.Contains(referenced, a => a.StartsWith("TorchSharp"));
        Assert.DoesNotContain(referenced, a => a.StartsWith("Akka") || a.StartsWith("MessagePack") || a.StartsWith("MtnnCluster."));
    }

    [Fact]
    public void No_core_source_file_uses_a_cluster_namespace()
    {
        var files = Directory.GetFiles(RepoPaths.File("Core"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")).ToArray();
        Assert.True(files.Length > 50, $"only {files.Length} core sources found");
        var forbidden = new Regex(@"\b(Akka|MessagePack|" + string.Join('|', ClusterNamespaces.Select(Regex.Escape)) + @")\b");
        var offenders = files.SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => forbidden.IsMatch(x.line)).Select(x => $"{Path.GetRelativePath(RepoPaths.Root, x.f)}:{x.i + 1}: {x.line.Trim()}").ToArray();
        Assert.True(offenders.Length == 0, string.Join('\n', offenders));
    }

    [Fact]
    public void Project_references_point_one_way()
    {
        foreach (var (project, mayReference) in Layers)
        {
            var references = XDocument.Load(RepoPaths.File(project)).Descendants("ProjectReference")
                .Select(r => Path.GetFileName(Path.GetDirectoryName(((string?)r.Attribute("Include") ?? "").Replace('\\', '/')))!).ToArray();
            var stray = references.Except(mayReference).ToArray();
            Assert.True(stray.Length == 0, $"{project} references {string.Join(", ", stray)}");
        }
        var loaded = Assembly.Load("MtnnCluster.Shared").GetReferencedAssemblies().Select(a => a.Name).ToArray();
        Assert.DoesNotContain(loaded, a => a is "MtnnCluster.Coordinator" or "MtnnCluster.Worker" or "mtnn");
    }
}
