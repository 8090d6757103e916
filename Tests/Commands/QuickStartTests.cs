using System.Diagnostics;
using System.Text.RegularExpressions;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// The README's quick start, replayed as a new user types it: every <c>./mtnn</c> command of its code blocks, in a
/// directory of its own holding only the bundled examples. Exit codes, predict's columns, the files a run leaves and
/// the disk they take must be what the README says.
/// </summary>
[Collection(Processes.Collection)]
public sealed class QuickStartTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mtnn-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string QuickStart()
    {
        var readme = File.ReadAllText(RepoPaths.File("README.md"));
        var start = readme.IndexOf("\n## Quick start", StringComparison.Ordinal);
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        Assert.True(start > 0 && end > start, "README.md has no '## Quick start' section");
        return readme[start..end];
    }

    [Fact]
    public async Task The_quick_start_runs_as_written_and_leaves_what_the_readme_says()
    {
        var section = QuickStart();
        var commands = Regex.Matches(section, "```bash\n(.*?)```", RegexOptions.Singleline)
            .SelectMany(m => m.Groups[1].Value.Split('\n'))
            .Select(line => line.Split('#')[0].Trim())
            .Where(line => line.StartsWith("./mtnn ", StringComparison.Ordinal))
            // the graph trunk's run takes minutes on two cores; GraphTrunkCommandTests runs it (on a slice), and
            // the disk figure below is the default run's
            .Where(line => !line.Contains("--trunk graph", StringComparison.Ordinal))
            .ToList();
        Assert.True(commands.Count >= 4, $"the quick start has {commands.Count} mtnn commands");
        Directory.CreateSymbolicLink(Path.Combine(_directory, "examples"), RepoPaths.File("examples"));

        foreach (var command in commands)
        {
            var (code, printed) = await Run(command["./mtnn ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(code == 0, $"{command}: exit {code}\n{printed}");
            Assert.DoesNotContain("warning", printed, StringComparison.OrdinalIgnoreCase);
        }

        // predict keeps the input's columns and ids, and says why a row has no prediction
        var predictions = File.ReadAllLines(Path.Combine(_directory, "predictions.csv"));
        var header = predictions[0].Split(',');
        Assert.Equal(["id", "smiles", "name", "error"], header[..4]);
        Assert.Equal(12, header.Length - 4); // Tox21's tasks
        Assert.Equal(File.ReadAllLines(RepoPaths.File("examples/molecules.csv")).Length, predictions.Length);
        Assert.StartsWith("MOL-001,CC(=O)Oc1ccccc1C(=O)O,aspirin,,0.", predictions[1]);
        var invalid = predictions.Single(l => l.StartsWith("MOL-011,", StringComparison.Ordinal));
        Assert.Matches(@"^MOL-011,C1CC,""unclosed ring, invalid on purpose"",[^,]*ring 1 is never closed[^,]*,{12}$", invalid);
        Assert.Equal(["id", "smiles", "name", "error", "ATG_PXRE_CIS_up"], File.ReadLines(Path.Combine(_directory, "pxr.csv")).First().Split(','));

        // the files a finished run leaves, as the quick start lists them: no training checkpoints
        var run = Path.Combine(_directory, "runs", "tox21");
        Assert.Equal(["checkpoint", "invalid_smiles.csv", "metrics.json", "mtnn.log", "predictions_test.csv", "predictions_valid.csv", "report.html", "splits.csv"],
            Directory.EnumerateFileSystemEntries(run).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in new[] { "metrics.json", "report.html", "splits.csv", "predictions_test.csv", "predictions_valid.csv", "invalid_smiles.csv" })
            Assert.Contains(Path.GetFileName(file), section);

        // the disk the quick start leaves, against the figure the README gives
        var bytes = Directory.EnumerateFiles(Path.Combine(_directory, "runs"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        var said = Regex.Match(section, @"leaves about (\d+) MB under `runs/`");
        Assert.True(said.Success, "the quick start says how much it leaves under runs/");
        var megabytes = bytes / 1e6;
        output.WriteLine($"runs/: {megabytes:F1} MB");
        Assert.InRange(megabytes, int.Parse(said.Groups[1].Value) * 0.75, int.Parse(said.Groups[1].Value) * 1.25);
    }

    private async Task<(int Code, string Output)> Run(string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = _directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProcessGroup.MtnnDll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        var printed = await stdout + await stderr;
        output.WriteLine($"$ mtnn {string.Join(' ', args)}\n{printed}");
        return (process.ExitCode, printed);
    }
}
