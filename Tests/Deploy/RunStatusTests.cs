using System.Diagnostics;
using System.Net;
using System.Text.Json;
using MtnnCluster.Cli.Output;
using MtnnCluster.Hosting;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Output;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// Watching a real `mtnn train --health-port` process while it trains: /status follows the phase and the epochs,
/// report.html is there before the run ends with its "still running" banner and loads cleanly in headless chromium,
/// and the final report replaces it without the banner.
/// </summary>
[Collection(Processes.Collection)]
public sealed class RunStatusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private const int Epochs = 12; // with the trunk below, long enough on an idle machine for polls to see several epochs

    [Fact]
    public async Task Status_and_the_live_report_follow_a_run_while_it_trains()
    {
        var port = HealthEndpointTests.FreePort();
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-watch-{Guid.NewGuid():N}");
        var report = Path.Combine(outDirectory, ReportWriter.FileName);
        using var processes = new ProcessGroup(output);
        var train = processes.Start(["train", "--data", RepoPaths.File("examples/tox21.csv"), "--tasks", "NR-AR,SR-ARE", "--epochs", $"{Epochs}",
            "--patience", "0", "--layers", "1000,100", "--bits", "1024", "--out", outDirectory, "--health-port", $"{port}"]);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var clock = Stopwatch.StartNew();
            var seen = new List<JsonElement>();
            string? live = null;
            while (!train.HasExited)
            {
                if (clock.Elapsed > Limit) Assert.Fail($"train did not end within {Limit}");
                await Task.Delay(200);
                try
                {
                    using var response = await http.GetAsync($"http://127.0.0.1:{port}{HealthEndpoint.StatusPath}");
                    if (response.StatusCode != HttpStatusCode.OK) continue;
                    seen.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    continue; // not listening yet, gone with the process, or too busy to answer within the client's timeout
                }
                // renamed into place whole, so any read is a complete page; the latest one before the end is kept
                if (File.Exists(report) && File.ReadAllText(report) is var page && page.Contains("id=\"unfinished\"")) live = page;
            }
            Assert.Equal(0, await processes.WaitForExit(train, TimeSpan.FromSeconds(30)));

            Assert.NotEmpty(seen);
            output.WriteLine($"{seen.Count} answers; last: {seen[^1]}");
            var training = seen.Where(s => s.GetProperty("phase").GetString() == "training").Select(s => s.GetProperty("epoch").GetInt32()).Distinct().ToArray();
            Assert.True(training.Length >= 2, $"training seen only at epochs [{string.Join(",", training)}]");
            Assert.Equal(training.Order(), training); // epochs only go forward
            Assert.All(seen, s => Assert.Equal(Epochs, s.GetProperty("epochs").GetInt32()));
            var done = seen.Last(s => s.GetProperty("epochs_done").GetInt32() >= 1);
            Assert.StartsWith("run-", done.GetProperty("run_id").GetString());
            Assert.InRange(done.GetProperty("best_epoch").GetInt32(), 1, Epochs);
            Assert.InRange(done.GetProperty("best_score").GetDouble(), 0, 1);
            var last = done.GetProperty("last_epoch");
            Assert.Equal(done.GetProperty("epochs_done").GetInt32(), last.GetProperty("epoch").GetInt32());
            Assert.Equal("joint", last.GetProperty("phase").GetString());
            Assert.True(last.GetProperty("train_loss").GetDouble() > 0);
            Assert.True(last.GetProperty("seconds").GetDouble() > 0);
            Assert.Equal(2, done.GetProperty("tasks").GetInt32());
            Assert.Equal(["local-0"], done.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("id").GetString())); // one per device
            Assert.Equal(0, done.GetProperty("events").GetArrayLength());
            Assert.True(done.GetProperty("updated").GetDateTimeOffset() >= done.GetProperty("started").GetDateTimeOffset());

            Assert.NotNull(live);
            Assert.Matches($"Still running, epoch \\d+ of {Epochs}\\.", live);
            Assert.Contains("Per-task scores on every split come with the final report", live);
            var dom = await HeadlessChromium.DumpDom(ReportProbe.Write(live, "", Path.Combine(outDirectory, "probe-live.html")), TimeSpan.FromSeconds(90));
            Assert.Equal("yes", ReportProbe.Attribute(dom, "loaded"));
            Assert.Null(ReportProbe.Attribute(dom, "errors"));
            Assert.Equal("2", ReportProbe.Attribute(dom, "images")); // learning curves and epoch times so far
            Assert.Equal("2", ReportProbe.Attribute(dom, "shown"));
            Assert.Equal("0", ReportProbe.Attribute(dom, "other-size"));

            var final = File.ReadAllText(report);
            Assert.DoesNotContain("id=\"unfinished\"", final);
            Assert.DoesNotContain("http-equiv=\"refresh\"", final);
            Assert.Contains("<table id=\"tasks\"", final);
        }
        finally
        {
            processes.Dispose(); // a run that failed the test may still be writing checkpoints: stop it before the delete
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
        }
    }
}
