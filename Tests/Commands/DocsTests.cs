using System.Text.RegularExpressions;
using Xunit;

namespace MtnnCluster.Tests.Commands;

/// <summary>Every page of docs/ is reachable from the README, and the pages' links lead to files of this repository.</summary>
public sealed class DocsTests
{
    private static readonly Regex Link = new(@"\]\((?<target>[^)#\s]+)(#[^)]*)?\)");

    // code (SMILES such as [N+](=O)) is not a link
    private static string Prose(string markdown) => Regex.Replace(Regex.Replace(markdown, "```.*?```", "", RegexOptions.Singleline), "`[^`\n]*`", "");

    [Fact]
    public void Every_docs_page_is_linked_from_the_readme()
    {
        var readme = File.ReadAllText(RepoPaths.File("README.md"));
        var linked = Link.Matches(Prose(readme)).Select(m => m.Groups["target"].Value).ToHashSet();
        var pages = Directory.GetFiles(RepoPaths.File("docs"), "*.md").Select(p => $"docs/{Path.GetFileName(p)}");
        Assert.All(pages, page => Assert.True(linked.Contains(page), $"{page} is not linked from README.md"));
    }

    [Fact]
    public void Links_of_the_readme_and_the_docs_lead_to_files_of_the_repository()
    {
        foreach (var file in Directory.GetFiles(RepoPaths.File("docs"), "*.md").Append(RepoPaths.File("README.md")).Append(RepoPaths.File("BENCHMARKS.md")))
            foreach (Match m in Link.Matches(Prose(File.ReadAllText(file))))
            {
                var target = m.Groups["target"].Value;
                if (target.Contains("://") || target.EndsWith("security.md", StringComparison.Ordinal)) continue; // the web; the security work's page
                var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"{Path.GetFileName(file)} links {target}, which does not exist");
                Assert.StartsWith(RepoPaths.Root, path);
            }
    }
}
