using System.Diagnostics;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Cli.Output;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Data;
using MtnnCluster.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Commands;

/// <summary>
/// The exit-code table (docs/fault-tolerance.md, "Exit codes") through the real executable: input that is not a readable regular
/// file, an invalid worker id, and a second run on a held --out are refused with 2 and one line, before anything
/// starts; a stale lock is taken over.
/// </summary>
[Collection(Processes.Collection)]
public sealed class ExitCodeTests(Tox21Slice slice, ITestOutputHelper output) : IClassFixture<Tox21Slice>, IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(1);
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] Small => ["--epochs", "1", "--layers", "8", "--bits", "64", "--batch-size", "32", "--workers", "1"];

    private Task<(int Code, string Output)> Mtnn(params string[] args) => ProcessGroup.RunToExit(output, Limit, args);

    private static void AssertOneLine(string printed, string expected)
    {
        Assert.Contains(expected, printed);
        Assert.DoesNotContain("   at ", printed); // no stack trace
    }

    [Fact]
    public async Task A_worker_id_that_cannot_name_an_actor_is_refused_with_2()
    {
        var (code, printed) = await Mtnn("worker", "--seed", "127.0.0.1:1", "--id", "a/b");
        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLine(printed, "--id 'a/b': a worker id is 1 to 100 letters, digits");
    }

    [Fact]
    public async Task A_directory_as_data_is_reported_as_a_directory()
    {
        var (code, printed) = await Mtnn(["train", "--data", _dir.Root, "--out", Path.Combine(_dir.Root, "out"), .. Small]);
        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLine(printed, $"--data: {_dir.Root} is a directory, not a data file");
    }

    [Fact]
    public async Task A_character_device_as_data_is_refused_with_2()
    {
        var (code, printed) = await Mtnn(["train", "--data", "/dev/zero", "--out", Path.Combine(_dir.Root, "out"), .. Small]);
        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLine(printed, "--data: /dev/zero is a character device");
    }

    [Fact]
    public async Task A_fifo_without_a_writer_is_refused_with_2_without_blocking()
    {
        var fifo = Path.Combine(_dir.Root, "data.fifo");
        using (var mkfifo = Process.Start("mkfifo", [fifo])) await mkfifo.WaitForExitAsync();
        var (code, printed) = await ProcessGroup.RunToExit(output, TimeSpan.FromSeconds(30), ["coordinator", "--data", fifo, "--out", Path.Combine(_dir.Root, "out"),
            "--bind", $"127.0.0.1:{MultiProcessTrainingTests.FreePort()}", "--epochs", "1"]);
        Assert.Equal(ExitCodes.BadInput, code);
        AssertOneLine(printed, $"--data: {fifo} is a pipe or FIFO");
    }

    [Fact]
    public async Task A_pipe_from_process_substitution_is_refused_with_2()
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"exec dotnet '{ProcessGroup.MtnnDll}' train --data <(cat '{slice.Csv}') --out '{Path.Combine(_dir.Root, "out")}' {string.Join(' ', Small)}");
        using var process = Process.Start(info)!;
        var printed = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Limit);
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine(printed);
        Assert.Equal(ExitCodes.BadInput, process.ExitCode);
        AssertOneLine(printed, "is a pipe or FIFO, which can be read only once");
    }

    [Fact]
    public async Task Two_runs_started_together_on_one_out_one_trains_the_other_is_refused_with_2()
    {
        var outDirectory = Path.Combine(_dir.Root, "shared-out");
        using var processes = new ProcessGroup(output);
        var runs = new[] { "0", "1" }.Select(seed => processes.Start(["train", "--data", slice.Csv, "--out", outDirectory, "--seed", seed, .. Small])).ToArray();
        var codes = new List<int>();
        foreach (var run in runs) codes.Add(await processes.WaitForExit(run, TimeSpan.FromMinutes(3)));
        Assert.Equal([ExitCodes.Done, ExitCodes.BadInput], codes.Order());
        var refused = runs[codes.IndexOf(ExitCodes.BadInput)];
        refused.WaitForExit();
        AssertOneLine(processes.Output(refused), $"--out: {outDirectory} is in use by another run (mtnn train, pid {runs[codes.IndexOf(ExitCodes.Done)].Id} on {Environment.MachineName}");
        Assert.False(File.Exists(Path.Combine(outDirectory, RunLock.FileName)), "the lock is removed when its run ends");
    }

    [Fact]
    public async Task A_stale_lock_of_a_dead_process_is_taken_over_with_a_message()
    {
        var outDirectory = Path.Combine(_dir.Root, "stale");
        Directory.CreateDirectory(outDirectory);
        var deadPid = FindDeadPid();
        File.WriteAllText(Path.Combine(outDirectory, RunLock.FileName),
            $$"""{"Pid":{{deadPid}},"Host":"{{Environment.MachineName}}","StartedTicks":1,"Command":"mtnn train"}""");
        var (code, printed) = await Mtnn(["train", "--data", slice.Csv, "--out", outDirectory, .. Small]);
        Assert.Equal(ExitCodes.Done, code);
        Assert.Contains($"taking over the stale lock {Path.Combine(outDirectory, RunLock.FileName)}: pid {deadPid} on {Environment.MachineName} (mtnn train) is no longer running", printed);
    }

    /// <summary>A pid no process has now (pids are below 2^22 on Linux).</summary>
    private static int FindDeadPid()
    {
        for (var pid = 4_000_000; ; pid--)
            if (!Directory.Exists($"/proc/{pid}")) return pid;
    }
}
