using System.Text.RegularExpressions;
using System.Xml.Linq;
using MtnnCluster.Cli.Output;
using MtnnCluster.Hosting;
using Xunit;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// What can be checked of the container images without a Docker engine: pinned bases, a non-root user, the
/// entry point, no secrets, COPY sources that exist and pass .dockerignore, the CUDA build property, and a font.
/// </summary>
public sealed partial class DockerfileLintTests
{
    public static TheoryData<string> Dockerfiles => new() { "Deploy/Dockerfile", "Deploy/Dockerfile.cuda" };

    /// <summary>One instruction of a Dockerfile, continuation lines joined, comments dropped.</summary>
    internal sealed record Instruction(int Line, string Keyword, string Arguments);

    internal static IReadOnlyList<Instruction> Parse(string relativePath)
    {
        var instructions = new List<Instruction>();
        var lines = File.ReadAllLines(RepoPaths.File(relativePath));
        for (var i = 0; i < lines.Length; i++)
        {
            var start = i;
            var text = lines[i].Trim();
            if (text.Length == 0 || text.StartsWith('#')) continue;
            while (text.EndsWith('\\') && i + 1 < lines.Length)
            {
                var next = lines[++i].Trim();
                text = text[..^1].TrimEnd() + (next.StartsWith('#') ? "" : " " + next);
            }
            var space = text.IndexOf(' ');
            Assert.True(space > 0, $"{relativePath}:{start + 1}: an instruction without arguments: '{text}'");
            instructions.Add(new Instruction(start + 1, text[..space].ToUpperInvariant(), text[(space + 1)..].Trim()));
        }
        return instructions;
    }

    /// <summary>The instructions of the last stage (the image that runs).</summary>
    private static IReadOnlyList<Instruction> FinalStage(IReadOnlyList<Instruction> all) =>
        all.Skip(all.Select((x, i) => (x, i)).Last(p => p.x.Keyword == "FROM").i).ToArray();

    [GeneratedRegex(@"^(?<image>[a-z0-9./_-]+):(?<tag>[A-Za-z0-9._-]+)$")]
    private static partial Regex ImageWithTag();

    [GeneratedRegex(@"\d+\.\d+\.\d+")]
    private static partial Regex FullVersion();

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Every_base_image_is_pinned_to_a_versioned_tag(string dockerfile)
    {
        var stages = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var froms = Parse(dockerfile).Where(i => i.Keyword == "FROM").ToArray();
        Assert.NotEmpty(froms);
        foreach (var from in froms)
        {
            var words = from.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--")).ToArray();
            var image = words[0];
            if (words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)) stages.Add(words[2]);
            if (stages.Contains(image) && !(words.Length == 3 && words[2] == image)) continue; // an earlier stage
            var match = ImageWithTag().Match(image);
            Assert.True(match.Success, $"{dockerfile}:{from.Line}: '{image}' has no tag (or uses a variable or digest this lint does not read)");
            var tag = match.Groups["tag"].Value;
            Assert.NotEqual("latest", tag);
            Assert.True(FullVersion().IsMatch(tag), $"{dockerfile}:{from.Line}: tag '{tag}' of {match.Groups["image"].Value} names no full version (x.y.z)");
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_runs_mtnn_as_a_numeric_non_root_user(string dockerfile)
    {
        var final = FinalStage(Parse(dockerfile));
        var user = final.LastOrDefault(i => i.Keyword == "USER");
        Assert.True(user is not null, $"{dockerfile}: the final stage sets no USER (it would run as root)");
        var uid = user.Arguments.Split(':')[0];
        Assert.True(int.TryParse(uid, out var id) && id > 0, $"{dockerfile}:{user.Line}: USER '{user.Arguments}' must be a numeric non-root id (Kubernetes runAsNonRoot checks numbers)");
        Assert.Equal(ImageUser, id);

        var entry = final.LastOrDefault(i => i.Keyword == "ENTRYPOINT");
        Assert.True(entry is not null, $"{dockerfile}: no ENTRYPOINT in the final stage");
        Assert.Equal("""["dotnet", "/app/mtnn.dll"]""", entry.Arguments);
        // the publish output and the assembly name the entry point relies on
        Assert.Contains(Parse(dockerfile), i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish Cli/MtnnCluster.Cli.csproj") && i.Arguments.EndsWith("-o /app"));
        var assemblyName = XDocument.Load(RepoPaths.File("Cli/MtnnCluster.Cli.csproj")).Descendants("AssemblyName").Single().Value;
        Assert.Equal("mtnn", assemblyName);

        var exposed = final.Where(i => i.Keyword == "EXPOSE").SelectMany(i => i.Arguments.Split(' ')).Select(int.Parse).Order();
        Assert.Equal(new[] { NodeDefaults.RemotingPort, NodeDefaults.HealthPort, NodeDefaults.MetricsPort }.Order(), exposed);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_installs_the_font_the_reports_plots_draw_their_text_with(string dockerfile)
    {
        var final = FinalStage(Parse(dockerfile));
        var install = final.SingleOrDefault(i => i.Keyword == "RUN" && Regex.IsMatch(i.Arguments, @"apt-get install\b[^&]*\bfonts-dejavu-core\b"));
        Assert.True(install is not null, $"{dockerfile}: the final stage installs no fonts-dejavu-core ({ReportPlots.SansFamily}): the report's plots would have no text");
        Assert.Contains("--no-install-recommends", install.Arguments);
        Assert.Contains("rm -rf /var/lib/apt/lists", install.Arguments); // the package lists stay out of the image
        // as root: before the image switches to its user
        Assert.True(install.Line < final.Last(i => i.Keyword == "USER").Line, $"{dockerfile}:{install.Line}: installs after USER");
    }

    /// <summary>The uid both images run as; the Kubernetes manifests' runAsUser must be the same.</summary>
    public const int ImageUser = 1654;

    [GeneratedRegex(@"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"(-----BEGIN|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{20,}|xox[bp]-|[A-Za-z0-9+/]{40,}={0,2})")]
    private static partial Regex SecretValue();

    [GeneratedRegex(@"(?<name>[A-Za-z_][A-Za-z0-9_]*)=""\$\{\k<name>-(?<value>[^}]*)\}""")]
    private static partial Regex ScriptDefault();

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_runs_with_the_environment_the_launcher_scripts_set(string dockerfile)
    {
        var script = File.ReadAllText(RepoPaths.File("Deploy/runtime-env.sh"));
        var expected = ScriptDefault().Matches(script).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value);
        Assert.Contains("MALLOC_MMAP_THRESHOLD_", expected.Keys);
        var image = FinalStage(Parse(dockerfile)).Where(i => i.Keyword == "ENV")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        foreach (var (name, value) in expected)
            Assert.True(image.TryGetValue(name, out var set) && set == value,
                $"{dockerfile}: ENV {name} should be {value} as in Deploy/runtime-env.sh (is {(set ?? "unset")})");
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void No_environment_variable_or_build_argument_holds_a_secret(string dockerfile)
    {
        foreach (var instruction in Parse(dockerfile).Where(i => i.Keyword is "ENV" or "ARG"))
        {
            // ENV A=1 B=2, ENV A 1, ARG A, ARG A=1
            var pairs = instruction.Arguments.Contains('=')
                ? instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
                : [instruction.Arguments.Split(' ', 2)];
            foreach (var pair in pairs)
            {
                var (name, value) = (pair[0], pair.Length > 1 ? pair[1] : "");
                Assert.False(SecretName().IsMatch(name), $"{dockerfile}:{instruction.Line}: {instruction.Keyword} {name}: secrets belong in the orchestrator's secret store, not in the image");
                Assert.False(SecretValue().IsMatch(value), $"{dockerfile}:{instruction.Line}: {instruction.Keyword} {name} holds what looks like a key or token");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Copy_sources_exist_and_pass_the_dockerignore_allow_list(string dockerfile)
    {
        var allowed = File.ReadAllLines(RepoPaths.File(".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.StartsWith('!')).Select(l => l[1..].TrimEnd('/')).ToArray();
        Assert.Contains("*", File.ReadAllLines(RepoPaths.File(".dockerignore")).Select(l => l.Trim())); // an allow-list: everything else stays out
        var copies = Parse(dockerfile).Where(i => i.Keyword is "COPY" or "ADD" && !i.Arguments.StartsWith("--from=")).ToArray();
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            Assert.Equal("COPY", copy.Keyword); // ADD fetches URLs and unpacks archives: nothing here needs it
            var words = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--")).ToArray();
            foreach (var source in words[..^1])
            {
                var path = RepoPaths.File(source.TrimEnd('/'));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"{dockerfile}:{copy.Line}: COPY source '{source}' does not exist in the repository");
                var relative = source.TrimEnd('/');
                Assert.True(allowed.Any(a => relative == a || relative.StartsWith(a + "/")), $"{dockerfile}:{copy.Line}: '{source}' is excluded by .dockerignore");
            }
        }
    }

    [Fact]
    public void The_cuda_image_builds_with_the_cuda_torch_backend_and_the_cpu_image_does_not()
    {
        static Instruction[] DotnetBuilds(string file) =>
            Parse(file).Where(i => i.Keyword == "RUN" && Regex.IsMatch(i.Arguments, @"dotnet (restore|build|publish)")).ToArray();
        var cuda = DotnetBuilds("Deploy/Dockerfile.cuda");
        Assert.NotEmpty(cuda);
        Assert.All(cuda, i => Assert.Contains("-p:TorchBackend=cuda", i.Arguments)); // restore and publish must agree
        Assert.All(DotnetBuilds("Deploy/Dockerfile"), i => Assert.DoesNotContain("TorchBackend", i.Arguments));
        // the property the images pass is the one the projects read
        Assert.Contains("'$(TorchBackend)' == 'cuda'", File.ReadAllText(RepoPaths.File("Core/MtnnCluster.Core.csproj")));
        var runtime = FinalStage(Parse("Deploy/Dockerfile.cuda")).First();
        Assert.StartsWith("nvidia/cuda:", runtime.Arguments);
        Assert.Contains("ubuntu24.04", runtime.Arguments); // GCC 13+ libstdc++ for TorchSharp
    }
}
