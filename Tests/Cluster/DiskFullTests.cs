using System.Diagnostics;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// A disk that fills during a real <c>mtnn train</c> (issue 17, item 8): its --out is a tmpfs sized so that a third
/// training checkpoint does not fit beside two, and the final model does not fit at all. Rotation must make room
/// (checkpointing goes on), the failed final write must keep the finished run on disk and exit 1 saying where it
/// is, and <c>--resume</c> on a disk with space again must finish the writing.
/// </summary>
[Collection(Processes.Collection)]
public sealed class DiskFullTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private const int Page = 4096; // tmpfs counts whole pages

    private string[] Train(string outDirectory) =>
        ["train", "--out", outDirectory, "--workers", "2", "--data", slice.Csv, "--epochs", "3", "--layers", "64", "--bits", "1024",
         "--batch-size", "64", "--lr", "3e-3", "--patience", "0", "--keep-checkpoints", "3"]; // the reference's give the sizes

    private static long Pages(string directory) =>
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Sum(f => (new FileInfo(f).Length + Page - 1) / Page * Page);

    [Fact]
    public async Task A_full_disk_keeps_checkpointing_and_the_finished_run_and_resume_writes_the_outputs()
    {
        // the same run on an ordinary disk gives the sizes
        var reference = Path.Combine(slice.Directory, "disk-reference");
        var (code, _) = await ProcessGroup.RunToExit(output, Limit, Train(reference));
        Assert.Equal(0, code);
        var checkpoints = Path.Combine(reference, TrainingCheckpoint.DirectoryName);
        var (second, third, model) = (Pages(Path.Combine(checkpoints, "epoch-000002")), Pages(Path.Combine(checkpoints, "epoch-000003")), Pages(Path.Combine(reference, "checkpoint")));
        // two checkpoints and the run lock fit, a third does not, and neither does the final model beside the two
        var size = second + third + Page + model / 2 / Page * Page;
        Assert.True(size < 3 * third, $"sizes do not make a disk that fills: checkpoint {third} B, model {model} B");

        var outDirectory = Directory.CreateDirectory(Path.Combine(slice.Directory, "disk-full")).FullName;
        if (!Run("mount", ["-t", "tmpfs", "-o", $"size={size}", "tmpfs", outDirectory], out var why))
        {
            output.WriteLine($"SKIPPED: cannot mount a small tmpfs here (needs root): {why}");
            return;
        }
        try
        {
            output.WriteLine($"tmpfs of {size} B at {outDirectory}: checkpoint {third} B, final model {model} B");
            using var processes = new ProcessGroup(output);
            var clock = Stopwatch.StartNew();
            var run = processes.Start(Train(outDirectory));
            Assert.Equal(1, await processes.WaitForExit(run, Limit));
            run.WaitForExit();
            var printed = processes.Output(run);
            output.WriteLine($"exit 1 after {clock.Elapsed.TotalSeconds:F1} s");

            // rotation made room for epoch 3 by removing epoch 1; epoch 3's checkpoint, the finished run, verifies
            Assert.Contains("disk full: removed epoch-000001", printed);
            var kept = TrainingCheckpoint.List(Path.Combine(outDirectory, TrainingCheckpoint.DirectoryName)).Select(Path.GetFileName);
            Assert.Equal(["epoch-000003", "epoch-000002"], kept);
            var last = TrainingCheckpoint.Read(Path.Combine(outDirectory, TrainingCheckpoint.DirectoryName, "epoch-000003"));
            Assert.Equal(3, last.State.History.Count);
            Assert.DoesNotContain(last.State.Events, e => e.Kind == MtnnCluster.Training.RunEventKind.CheckpointFailed);

            // the final write was retried, then the process said where the model is and how to finish
            Assert.Contains("trying again", printed);
            var error = printed.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
            Assert.Contains("epoch-000003", error);
            Assert.Contains($"--resume {outDirectory}", error);
            Assert.False(File.Exists(Path.Combine(outDirectory, "metrics.json")));
            Assert.Empty(Directory.GetFiles(outDirectory, "*.tmp*", SearchOption.AllDirectories));
            Assert.Empty(Directory.GetDirectories(outDirectory, "*.tmp-*", SearchOption.AllDirectories));
            Assert.False(File.Exists(Path.Combine(outDirectory, ".mtnn.lock")));

            // space again: --resume goes straight to the end and writes what was missing
            Assert.True(Run("mount", ["-o", $"remount,size={4 * size}", outDirectory], out why), why);
            var resumed = processes.Start(["train", "--resume", outDirectory, "--workers", "2"]);
            Assert.Equal(0, await processes.WaitForExit(resumed, Limit));
            var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json"))).RootElement;
            Assert.Equal(3, metrics.GetProperty("history").GetArrayLength());
            Assert.True(File.Exists(Path.Combine(outDirectory, "checkpoint", ChecksummedDirectory.ManifestFile)));
        }
        finally
        {
            if (!Run("umount", [outDirectory], out why)) output.WriteLine($"umount {outDirectory}: {why}");
        }
    }

    /// <summary>Runs mount or umount; false (and why) when it fails or cannot run.</summary>
    private static bool Run(string tool, string[] arguments, out string why)
    {
        try
        {
            var info = new ProcessStartInfo(tool, arguments) { RedirectStandardError = true, UseShellExecute = false };
            using var process = Process.Start(info)!;
            why = process.StandardError.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            why = e.Message;
            return false;
        }
    }
}
