using System.Diagnostics;

namespace MtnnCluster.Tests.Output;

/// <summary>
/// Loads a page in Debian's headless chromium (installed by ./test.sh through Deploy/setup.sh) and returns the DOM
/// as it stands after the page's scripts ran. Bounded in time; chromium and its children are killed on the way out.
/// </summary>
internal static class HeadlessChromium
{
    public static async Task<string> DumpDom(string htmlPath, TimeSpan timeout)
    {
        var profile = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mtnn-chromium-{Guid.NewGuid():N}")).FullName;
        var start = new ProcessStartInfo(Executable())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "--headless", "--disable-gpu", "--no-first-run", "--no-sandbox", // root (containers, CI) cannot use chromium's sandbox
                $"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", new Uri(htmlPath).AbsoluteUri,
            },
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
        try
        {
            var dom = process.StandardOutput.ReadToEndAsync();
            var log = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"chromium did not finish loading {htmlPath} within {timeout.TotalSeconds} s");
            }
            if (process.ExitCode != 0) throw new InvalidOperationException($"chromium exited with {process.ExitCode}: {await log}");
            return await dom;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
            DeleteProfile(profile);
        }
    }

    private static void DeleteProfile(string profile)
    {
        try
        {
            Directory.Delete(profile, recursive: true);
        }
        catch (IOException)
        {
            // a killed chromium's last child can still be writing there; it is a temporary directory either way
        }
    }

    private static string Executable()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(directory, "chromium"))) return Path.Combine(directory, "chromium");
        throw new InvalidOperationException("chromium is not installed: run ./test.sh, or MTNN_TEST_TOOLS=1 Deploy/setup.sh, which installs it");
    }
}
