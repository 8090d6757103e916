using System.ComponentModel;
using System.Diagnostics;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// A command-line tool the deployment tests run (kubectl, node, promtool), installed by Deploy/setup.sh under
/// MTNN_TEST_TOOLS=1: run to its end within a time limit, killed if it overruns, its output captured.
/// </summary>
internal static class Tool
{
    public const string InstallHint = "./test.sh (or MTNN_TEST_TOOLS=1 Deploy/setup.sh) installs it";

    public sealed record Result(int Code, string Stdout, string Stderr);

    public static Result Run(string file, IEnumerable<string> args, TimeSpan limit, string? workingDirectory = null)
    {
        // setup.sh unpacks a tool into .tools/bin when the system's package is too old (kubectl on Debian 12)
        var local = RepoPaths.File(Path.Combine(".tools", "bin", file));
        var info = new ProcessStartInfo(File.Exists(local) ? local : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not on the PATH: {InstallHint}", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} took more than {limit.TotalSeconds} s");
            }
            return new Result(process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    /// <summary>Runs the tool and returns its standard output; a non-zero exit is an error naming the command.</summary>
    public static string Output(string file, IEnumerable<string> args, TimeSpan limit, string? workingDirectory = null)
    {
        var list = args.ToArray();
        var result = Run(file, list, limit, workingDirectory);
        if (result.Code != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', list)} failed ({result.Code}): {result.Stderr}{result.Stdout}");
        return result.Stdout;
    }
}
