using System.Text.Json;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Data;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Commands;

/// <summary>--precision through the real `mtnn` executable: refused where it has no meaning, changeable on resume.</summary>
public sealed class PrecisionCommandTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<(int Code, string Output)> Mtnn(params string[] args) => ProcessGroup.RunToExit(output, Limit, args);

    private string SmallData() =>
        _dir.WriteText("small.csv", string.Concat(File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(301).Select(l => l + "\n")));

    private static string[] Small => ["--tasks", "NR-AR,SR-MMP", "--epochs", "2", "--patience", "0", "--layers", "16", "--bits", "128", "--batch-size", "64", "--workers", "1"];

    [Theory]
    [InlineData("tf32", "error: --precision tf32 needs a CUDA device (TF32 is a mode of CUDA matrix units); this worker computes on cpu: use fp32 or bf16")]
    [InlineData("fp16", "error: --precision must be fp32, tf32 or bf16 (got 'fp16')")]
    public async Task A_precision_the_device_cannot_honour_exits_2_naming_the_option_before_any_work(string precision, string expected)
    {
        var outDirectory = Path.Combine(_dir.Root, "out-" + precision);
        var (code, text) = await Mtnn(["train", "--data", SmallData(), "--out", outDirectory, "--device", "cpu", "--precision", precision, .. Small]);
        Assert.Equal(2, code);
        Assert.Contains(expected, text);
        Assert.DoesNotContain("epoch", text); // refused before training
        Assert.False(Path.Exists(Path.Combine(outDirectory, "metrics.json")));
        Assert.False(Path.Exists(Path.Combine(outDirectory, "checkpoints")));
    }

    [Fact]
    public async Task A_resumed_run_may_change_its_precision_and_records_it()
    {
        var outDirectory = Path.Combine(_dir.Root, "run");
        // kept: a finished run's training checkpoints are removed otherwise, and this one is to be resumed
        var (code, _) = await Mtnn(["train", "--data", SmallData(), "--out", outDirectory, "--keep-checkpoints", "3", .. Small]);
        Assert.Equal(0, code);
        Assert.Equal("fp32", CheckpointPrecision(outDirectory));
        // as if the run had died after its first epoch
        File.Delete(Path.Combine(outDirectory, "metrics.json"));
        Directory.Delete(Path.Combine(outDirectory, "checkpoints", "epoch-000002"), recursive: true);

        (code, var text) = await Mtnn("train", "--resume", outDirectory, "--precision", "tf32", "--workers", "1");
        Assert.Equal(2, code); // the override is checked against the device like a new run's precision
        Assert.Contains("error: --precision tf32 needs a CUDA device", text);

        (code, text) = await Mtnn("train", "--resume", outDirectory, "--precision", "bf16", "--workers", "1");
        Assert.Equal(0, code);
        Assert.Contains("--precision: the run computed in fp32 so far; it goes on in bf16", text);
        Assert.Contains("epoch   2/2", text); // the second epoch ran again, now in bf16
        Assert.Equal("bf16", CheckpointPrecision(outDirectory));
    }

    private static string? CheckpointPrecision(string outDirectory)
    {
        using var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "checkpoint", "model.json")));
        return model.RootElement.GetProperty("spec").GetProperty("precision").GetString();
    }
}
