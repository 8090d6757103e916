using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Cli.Output;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Output;

/// <summary>A real run, once for all report tests: 2,000 Tox21 rows, 3 tasks, 3 epochs of the alternate schedule, 2 workers.</summary>
public sealed class ReportRun : IAsyncLifetime
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), $"mtnn-report-tests-{Guid.NewGuid():N}");
    public string Out => Path.Combine(Directory, "run");
    public RunOutcome Outcome { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var csv = Path.Combine(Directory, "tox21-2000.csv");
        File.WriteAllLines(csv, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(2001));
        var spec = new RunSpec(
            new DatasetSpec([csv], "smiles", ["NR-AR", "NR-AhR", "SR-p53"], null, null),
            new FeaturizerSpec(2, 1024, false),
            new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
            new ModelSpec([64, 32], 0.1),
            new OptimizerSpec(3e-3, 1e-4, 64, false),
            new ScheduleSpec(ScheduleKind.Alternate, 3, 1, 1, 0),
            0);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        Outcome = await EmbeddedRun.RunAsync(new TrainJob($"report-test-{Guid.NewGuid():N}", spec, Out, 2),
            new EmbeddedOptions(2, "cpu"), new RunCompletion(TextWriter.Null), timeout.Token);
    }

    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }
}

[Collection("console")]
public sealed partial class ReportTests(ReportRun run) : IClassFixture<ReportRun>
{
    private static readonly TimeSpan BrowserTimeout = TimeSpan.FromSeconds(90); // seconds normally; the machine may be busy

    private string Report => File.ReadAllText(Path.Combine(run.Out, ReportWriter.FileName));

    [Fact]
    public void A_run_writes_a_self_contained_report_beside_its_metrics()
    {
        var html = Report;
        Assert.DoesNotMatch(@"(src|href)\s*=\s*""(https?:)?//", html); // nothing fetched from elsewhere
        var images = ImageSource().Matches(html).Select(m => Convert.FromBase64String(m.Groups[1].Value)).ToArray();
        Assert.Equal(3, images.Length); // learning curves, epoch times, test ROC-AUC histogram
        Assert.All(images, png => Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]));
        var metrics = ReportWriter.ReadMetrics(run.Out);
        Assert.Equal(["heads", "trunk", "heads"], metrics.History.Select(h => h.Phase));
        Assert.All(metrics.Tasks, t => Assert.Contains($"<tr><td>{t.Name}</td><td>classification</td><td>{t.Worker}</td>", html));
        Assert.All(metrics.Workers, w => Assert.Contains($"<tr><td>{w.Id}</td>", html));
        Assert.Contains("None: every worker stayed for the whole run, and it was not resumed.", html);
    }

    [Fact]
    public async Task The_report_loads_in_headless_chromium_without_script_errors_and_shows_every_plot()
    {
        var dom = await Load(Probe(Report, "", "report"));

        Assert.Equal("yes", Attribute(dom, "loaded"));
        Assert.Null(Attribute(dom, "errors"));
        Assert.Equal("3", Attribute(dom, "images"));
        Assert.Equal("3", Attribute(dom, "shown"));
        Assert.Equal("0", Attribute(dom, "other-size")); // each drawn at the size the page gives it
    }

    [Fact]
    public async Task The_probe_notices_a_broken_image_and_a_script_error()
    {
        // the check above must be able to fail: the same page with one image damaged and one script throwing
        var damaged = ImagePayload().Replace(Report, "base64,AAAA", 1)
            .Replace("</body>", "<script>null.boom();</script></body>");
        var dom = await Load(Probe(damaged, "", "damaged"));

        Assert.Equal("yes", Attribute(dom, "loaded"));
        Assert.NotNull(Attribute(dom, "errors"));
        Assert.Equal("3", Attribute(dom, "images"));
        Assert.Equal("2", Attribute(dom, "shown"));
    }

    [Fact]
    public async Task Clicking_a_column_header_sorts_the_task_table()
    {
        const string clicks = """
            const table = document.getElementById("tasks"), headers = Array.from(table.tHead.rows[0].cells);
            const auc = headers.find(th => th.textContent === "test ROC-AUC"), name = headers.find(th => th.textContent === "task");
            const order = () => Array.from(table.tBodies[0].rows, row => row.cells[0].textContent).join(",");
            auc.click(); root.dataset.first = order();
            auc.click(); root.dataset.second = order();
            name.click(); root.dataset.byName = order();
            """;
        var dom = await Load(Probe(Report, clicks, "sort"));

        var tasks = ReportWriter.ReadMetrics(run.Out).Tasks;
        Assert.All(tasks, t => Assert.NotNull(t.TestRocAuc));
        var byAuc = tasks.OrderBy(t => Math.Round(t.TestRocAuc!.Value, 4)).Select(t => t.Name).ToArray();
        Assert.Null(Attribute(dom, "errors"));
        Assert.Equal(string.Join(",", byAuc.Reverse()), Attribute(dom, "first")); // numbers: highest first
        Assert.Equal(string.Join(",", byAuc), Attribute(dom, "second"));
        Assert.Equal(string.Join(",", tasks.Select(t => t.Name).Order(StringComparer.OrdinalIgnoreCase)), Attribute(dom, "by-name"));
    }

    [Fact]
    public void Ten_thousand_tasks_make_a_page_of_a_few_megabytes()
    {
        var metrics = ReportWriter.ReadMetrics(run.Out);
        var random = new Random(0);
        var tasks = Enumerable.Range(0, 10_000)
            .Select(i => metrics.Tasks[i % metrics.Tasks.Count] with { Name = $"task-{i:D5}", TestRocAuc = 0.5 + 0.5 * random.NextDouble() }).ToArray();

        var html = ReportWriter.Render(metrics with { Tasks = tasks });

        Assert.Equal(10_000, Regex.Count(html, "<tr><td>task-"));
        Assert.Equal(3, ImageSource().Count(html));
        Assert.InRange(html.Length, 1_000_000, 4_000_000);
    }

    [Fact]
    public async Task Report_command_writes_the_same_report_again_from_metrics_json_and_shows_events()
    {
        var again = CopyRun("again");
        var (code, _) = await Command("report", "--run", again);
        Assert.Equal(0, code);
        Assert.Equal(Report, File.ReadAllText(Path.Combine(again, ReportWriter.FileName)));

        var withEvent = CopyRun("with-event");
        var metrics = ReportWriter.ReadMetrics(withEvent) with
        {
            Events = [new RunEvent(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), RunEventKind.WorkerLost, "local-1", 2, 3)],
        };
        File.WriteAllBytes(Path.Combine(withEvent, ReportWriter.MetricsFileName), JsonSerializer.SerializeToUtf8Bytes(metrics, Checkpoint.Json));
        (code, _) = await Command("report", "--run", withEvent);
        Assert.Equal(0, code);
        Assert.Contains("<tr><td>2026-01-02 03:04:05</td><td>worker_lost</td><td>local-1</td><td class=\"n\">2</td><td class=\"n\">3</td><td class=\"n\"></td></tr>",
            File.ReadAllText(Path.Combine(withEvent, ReportWriter.FileName)));
    }

    [Fact]
    public async Task Report_command_names_the_file_when_there_is_no_usable_metrics_json()
    {
        var empty = System.IO.Directory.CreateDirectory(Path.Combine(run.Directory, "empty")).FullName;
        var (code, error) = await Command("report", "--run", empty);
        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(empty, "metrics.json")} not found", error);

        var bad = System.IO.Directory.CreateDirectory(Path.Combine(run.Directory, "bad")).FullName;
        File.WriteAllText(Path.Combine(bad, "metrics.json"), "{\"run_id\": \"x\", \"tasks\": [");
        (code, error) = await Command("report", "--run", bad);
        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(bad, "metrics.json")}: not a valid metrics.json", error);
        Assert.False(File.Exists(Path.Combine(bad, ReportWriter.FileName)));
    }

    [Fact]
    public void A_report_that_cannot_be_written_warns_and_keeps_the_checkpoint_and_metrics()
    {
        var outDirectory = Path.Combine(run.Directory, "unwritable-report");
        System.IO.Directory.CreateDirectory(Path.Combine(outDirectory, ReportWriter.FileName)); // a directory where the report goes
        var warnings = new List<string>();

        RunWriter.Write(outDirectory, run.Outcome, warnings.Add);

        // and, the directory being in the way, that it could not be removed either
        Assert.Contains(warnings, w => w.Contains($"{Path.Combine(outDirectory, ReportWriter.FileName)} not written"));
        Assert.True(File.Exists(Path.Combine(outDirectory, "metrics.json")));
        Assert.True(File.Exists(Path.Combine(outDirectory, "checkpoint", "manifest.json")));
        Assert.False(File.Exists(Path.Combine(outDirectory, ReportWriter.FileName)));
        Assert.Empty(System.IO.Directory.GetFiles(outDirectory, $".{ReportWriter.FileName}.tmp-*")); // nor its temporary
    }

    private string Probe(string html, string afterLoad, string name) => ReportProbe.Write(html, afterLoad, Path.Combine(run.Directory, $"probe-{name}.html"));

    private static Task<string> Load(string path) => HeadlessChromium.DumpDom(path, BrowserTimeout);

    private static string? Attribute(string dom, string name) => ReportProbe.Attribute(dom, name);

    private string CopyRun(string name)
    {
        var copy = System.IO.Directory.CreateDirectory(Path.Combine(run.Directory, name)).FullName;
        File.Copy(Path.Combine(run.Out, ReportWriter.MetricsFileName), Path.Combine(copy, ReportWriter.MetricsFileName));
        return copy;
    }

    private static async Task<(int Code, string Error)> Command(params string[] args)
    {
        var root = new RootCommand { ReportCommand.Create() };
        var (output, error) = (Console.Out, Console.Error);
        var errors = new StringWriter();
        Console.SetOut(TextWriter.Null);
        Console.SetError(errors);
        try
        {
            return (await root.Parse(args).InvokeAsync(), errors.ToString());
        }
        finally
        {
            Console.SetOut(output);
            Console.SetError(error);
        }
    }

    [GeneratedRegex("<img [^>]*src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"")]
    private static partial Regex ImageSource();

    [GeneratedRegex("base64,[A-Za-z0-9+/=]+")]
    private static partial Regex ImagePayload();
}
