using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Output;

/// <summary>
/// What a user sees on a terminal: the real executable in a pseudo-terminal (<c>script</c>), its output replayed
/// through a small terminal emulator. Lines never collide with the live bar, a healthy run says no warning, the
/// invalid SMILES are one line and a file.
/// </summary>
[Collection(Processes.Collection)]
public sealed class TerminalTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>, IDisposable
{
    private static readonly string[] Small = ["--epochs", "2", "--layers", "32", "--bits", "256", "--batch-size", "32", "--lr", "3e-3"];
    private readonly string _directory = Directory.CreateTempSubdirectory("mtnn-terminal-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task In_a_pseudo_terminal_every_line_stands_alone_and_a_healthy_run_warns_of_nothing()
    {
        var outDirectory = Path.Combine(_directory, "run");
        // a wide terminal, so that no line is wrapped by the display and the lines can be compared whole
        var command = $"stty cols 500 rows 40; exec dotnet '{ProcessGroup.MtnnDll}' train --data '{slice.Csv}' --out '{outDirectory}' {string.Join(' ', Small)}";
        var info = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-q", "-e", "-c", command, "/dev/null" }) info.ArgumentList.Add(arg);
        info.Environment["TERM"] = "xterm-256color";
        using var process = Process.Start(info)!;
        var raw = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var text = await raw;
        var screen = TerminalScreen.Render(text, 500);
        output.WriteLine(string.Join("\n", screen));

        Assert.Equal(0, process.ExitCode);
        Assert.Contains("\u001b[", text); // the live display did draw: this is the terminal case
        Assert.DoesNotContain("warning", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[ERROR]", text);
        var expected = new Regex[]
        {
            new(@"^worker local-0 registered \(cpu, 1 slot\(s\)\); 1/1$"),
            new(@"^/.*tox21-slice\.csv: 2997 rows \(3 invalid SMILES skipped: line 1324 'NC\(=O\)NC1N=C\(O\[AlH3\]\(O\)O\)NC1=O', line 2292 'O=CO\[AlH3\]\(OC=O\)OC=O', line 2299 'CC\(=O\)O\[AlH3\]\(O\)O'; all in /.*/invalid_smiles\.csv\), 12 tasks; split random: \d+/\d+/\d+$"),
            new(@"^worker local-0: 12 tasks, \d+ training labels$"),
            new(@"^epoch   1/2 joint  loss +[0-9.]+  valid [0-9.]+ \*? +[0-9.]+ s +\d+ rows/s$"),
            new(@"^epoch   2/2 joint  loss +[0-9.]+  valid [0-9.]+ [ *] +[0-9.]+ s +\d+ rows/s$"),
            new(@"^best epoch \d: mean test ROC-AUC [0-9.]+, PRC-AUC [0-9.]+; [0-9.]+ s$"),
            new(@"^wrote .*metrics\.json, .*report\.html, .*checkpoint/$"),
        };
        var lines = screen.Where(l => l.Length > 0).ToList();
        Assert.True(lines.Count == expected.Length, $"expected {expected.Length} lines on the screen, saw:\n{string.Join("\n", lines)}");
        for (var i = 0; i < expected.Length; i++) Assert.Matches(expected[i], lines[i]);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(outDirectory, "invalid_smiles.csv")).Length); // header and the three
        Assert.Contains("invalid SMILES", File.ReadAllText(Path.Combine(outDirectory, "mtnn.log")));
    }

    [Fact]
    public async Task A_healthy_three_process_run_prints_no_warning_from_start_to_end()
    {
        using var processes = new ProcessGroup(output);
        var port = MultiProcessTrainingTests.FreePort();
        var outDirectory = Path.Combine(_directory, "cluster");
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "2", "--data", slice.Csv, "--out", outDirectory, .. Small]);
        var workers = new[] { "wa", "wb" }.Select(id => processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--bind", "127.0.0.1:0", "--id", id])).ToArray();
        foreach (var p in workers.Prepend(coordinator)) Assert.Equal(0, await processes.WaitForExit(p, TimeSpan.FromMinutes(4)));
        foreach (var p in workers.Prepend(coordinator)) p.WaitForExit(); // the output readers drain
        var printed = string.Join("\n", workers.Prepend(coordinator).Select(processes.Output));
        Assert.Contains("best epoch", printed);
        Assert.DoesNotContain("warning", printed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[ERROR]", printed);
        Assert.True(File.Exists(Path.Combine(outDirectory, "mtnn.log")), "the actor system's log goes to --out");
    }
}

/// <summary>
/// Replays what a program wrote to a terminal (text, carriage returns, line feeds, the CSI cursor and erase
/// sequences a live display uses) into the lines a user would see, scrollback included.
/// </summary>
public static class TerminalScreen
{
    public static IReadOnlyList<string> Render(string output, int width)
    {
        var lines = new List<StringBuilder> { new() };
        var (row, column) = (0, 0);
        void Put(char c)
        {
            if (column >= width) (row, column) = (row + 1, 0);
            while (lines.Count <= row) lines.Add(new StringBuilder());
            var line = lines[row];
            while (line.Length < column) line.Append(' ');
            if (column < line.Length) line[column] = c;
            else line.Append(c);
            column++;
        }
        for (var i = 0; i < output.Length; i++)
        {
            var c = output[i];
            if (c == '\u001b' && i + 1 < output.Length && output[i + 1] == '[')
            {
                var end = i + 2;
                while (end < output.Length && output[end] is < '@' or > '~') end++;
                if (end >= output.Length) break;
                var parameters = output[(i + 2)..end].TrimStart('?');
                var n = int.TryParse(parameters.Split(';')[0], out var v) ? v : 0;
                switch (output[end])
                {
                    case 'A': row = Math.Max(0, row - Math.Max(1, n)); break;
                    case 'B': row += Math.Max(1, n); break;
                    case 'C': column += Math.Max(1, n); break;
                    case 'D': column = Math.Max(0, column - Math.Max(1, n)); break;
                    case 'G': column = Math.Max(0, n - 1); break;
                    case 'K':
                        while (lines.Count <= row) lines.Add(new StringBuilder());
                        var line = lines[row];
                        if (n == 2) line.Clear();
                        else if (n == 1) for (var k = 0; k < Math.Min(column, line.Length); k++) line[k] = ' ';
                        else if (column < line.Length) line.Length = column;
                        break;
                    case 'J':
                        if (n == 0)
                        {
                            if (row < lines.Count && column < lines[row].Length) lines[row].Length = column;
                            if (row + 1 < lines.Count) lines.RemoveRange(row + 1, lines.Count - row - 1);
                        }
                        break;
                }
                i = end;
                continue;
            }
            if (c == '\u001b' && i + 1 < output.Length && output[i + 1] == ']')
            {
                var bell = output.IndexOf('\a', i);
                i = bell < 0 ? output.Length : bell;
                continue;
            }
            switch (c)
            {
                case '\r': column = 0; break;
                case '\n': row++; break;
                case '\b': column = Math.Max(0, column - 1); break;
                case '\u001b': i++; break; // a two-character escape (save or restore the cursor, …)
                default:
                    if (!char.IsControl(c)) Put(c);
                    break;
            }
        }
        return lines.Select(l => l.ToString().TrimEnd()).ToList();
    }
}
