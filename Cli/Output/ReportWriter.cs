using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MtnnCluster.Checkpoints;

namespace MtnnCluster.Cli.Output;

/// <summary>
/// The report of a run that has not ended: training at <see cref="Epoch"/> of <see cref="Epochs"/>, or stopped by
/// <see cref="Failure"/>. It has no per-task scores yet, so it carries the task count.
/// </summary>
public sealed record Unfinished(int Epoch, int Epochs, int Tasks, DateTimeOffset Updated, string? Failure = null);

/// <summary>
/// Writes <c>report.html</c>: one self-contained page (plots as PNG data URIs, a few lines of script to sort the
/// task table, nothing fetched from elsewhere) made from a run's <see cref="RunMetrics"/>.
/// </summary>
public static class ReportWriter
{
    public const string FileName = "report.html";
    public const string MetricsFileName = "metrics.json";

    /// <summary>Writes the report of a run whose checkpoint and metrics are already written; a failure only warns.</summary>
    public static void TryWrite(string outDirectory, RunMetrics metrics, Action<string> warn)
    {
        try
        {
            Write(outDirectory, metrics);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var path = Path.Combine(outDirectory, FileName);
            warn($"{path} not written ({e.GetType().Name}: {e.Message}); metrics.json and checkpoint/ are; `mtnn report --run {outDirectory}` tries again");
            try
            {
                File.Delete(path); // an earlier run's report must not stand beside these metrics
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                warn($"{path} is from an earlier run and could not be removed ({cleanup.Message})");
            }
        }
    }

    /// <summary>Writes the page to a temporary file renamed over the old one: a reader never sees half a report.</summary>
    public static string Write(string outDirectory, RunMetrics metrics, Unfinished? unfinished = null)
    {
        var path = Path.Combine(outDirectory, FileName);
        AtomicFile.WriteText(path, Render(metrics, unfinished));
        return path;
    }

    /// <summary>Reads <c>metrics.json</c> from a run directory, with an error naming the file when it is not one.</summary>
    public static RunMetrics ReadMetrics(string runDirectory)
    {
        var path = Path.Combine(runDirectory, MetricsFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} not found (--run names the --out directory of a finished run)");
        try
        {
            var metrics = JsonSerializer.Deserialize<RunMetrics>(File.ReadAllBytes(path), Checkpoint.Json);
            if (metrics is null || metrics.RunId is null || metrics.Tasks is null || metrics.History is null || metrics.Workers is null)
                throw new InvalidDataException($"{path}: not a metrics.json of mtnn (run_id, tasks, workers or history missing)");
            return metrics;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid metrics.json: {e.Message}");
        }
    }

    public static string Render(RunMetrics m, Unfinished? unfinished = null)
    {
        var html = new StringBuilder(4096 + m.Tasks.Count * 200);
        // a page that is rewritten while the run trains reloads itself in an open browser
        var refresh = unfinished is { Failure: null } ? "<meta http-equiv=\"refresh\" content=\"60\">\n" : "";
        html.Append($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            {refresh}<title>{E(m.RunId)} · MtnnCluster report</title>
            <style>{Style}</style>
            </head><body>
            <h1>Training report <small>{E(m.RunId)}</small></h1>

            """);
        if (unfinished is not null) AppendBanner(html, unfinished);
        html.Append($"""
            <p class="facts">{E(m.Dataset)} · {m.Rows:N0} rows ({m.InvalidSmiles:N0} invalid SMILES skipped) · {unfinished?.Tasks ?? m.Tasks.Count:N0} tasks ·
            schedule <b>{E(m.Schedule)}</b> · split {E(m.Split)} · {m.EpochsRun} epochs, best {m.BestEpoch} · {m.WallSeconds:F1} s</p>

            """);
        if (m.CommandLine is not null) html.Append($"<p class=\"facts\">command: <code>{E(m.CommandLine)}</code></p>\n");
        if (m.Options is not null)
            html.Append($"<details><summary>options (every setting, defaults included)</summary><pre>{E(System.Text.Json.JsonSerializer.Serialize(m.Options, MtnnCluster.Checkpoints.Checkpoint.Json))}</pre></details>\n");
        AppendSummary(html, m);
        html.Append("<h2>Learning curves</h2>\n");
        if (m.History.Count == 0)
            html.Append("<p>No epoch finished.</p>\n");
        else
        {
            Image(html, ReportPlots.LearningCurves(m.History, m.BestEpoch), "training loss and validation score per epoch", ReportPlots.Width);
            html.Append("<p class=\"note\">Validation score: mean ROC-AUC of classification tasks and R² of regression tasks, " +
                        "the early-stopping criterion. Shading marks the phase of each epoch (heads: trunk frozen; trunk: heads frozen).</p>\n");
        }
        html.Append("<div class=\"pair\">\n");
        if (m.History.Count > 0)
        {
            html.Append("<section><h2>Training time per epoch</h2>\n");
            Image(html, ReportPlots.EpochTimes(m.History), "training seconds per epoch", ReportPlots.SmallWidth);
            html.Append("</section>\n");
        }
        AppendHistograms(html, m);
        html.Append("</div>\n");
        AppendWorkers(html, m);
        AppendEvents(html, m, unfinished is not null);
        if (unfinished is null) AppendTasks(html, m);
        else html.Append("<h2>Tasks</h2>\n<p>Per-task scores on every split come with the final report, once the best epoch has been scored.</p>\n");
        html.Append($"<script>{SortScript}</script>\n</body></html>\n");
        return html.ToString();
    }

    private static void AppendBanner(StringBuilder html, Unfinished u)
    {
        var updated = $"{u.Updated.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC";
        html.Append(u.Failure is null
            ? $"<p class=\"banner\" id=\"unfinished\">Still running, epoch {u.Epoch} of {u.Epochs}. This page is rewritten at every epoch end " +
              $"(last at {updated}) and replaced by the final report when the run ends.</p>\n"
            : $"<p class=\"banner failed\" id=\"unfinished\">The run failed in epoch {u.Epoch} of {u.Epochs} ({updated}): {E(u.Failure)}. " +
              "This page shows it up to its last epoch end; there is no final report.</p>\n");
    }

    private static void AppendSummary(StringBuilder html, RunMetrics m)
    {
        var rows = new (string Name, double? Value)[]
        {
            ("mean test ROC-AUC", m.MeanTestRocAuc), ("mean valid ROC-AUC", m.MeanValidRocAuc), ("mean train ROC-AUC", m.MeanTrainRocAuc),
            ("mean test PRC-AUC", m.MeanTestPrcAuc), ("mean valid PRC-AUC", m.MeanValidPrcAuc),
            ("mean test RMSE", m.MeanTestRmse), ("mean test R²", m.MeanTestR2),
        }.Where(r => r.Value is not null).ToArray();
        if (rows.Length == 0) return;
        html.Append("<table class=\"summary\"><tr>");
        foreach (var (name, _) in rows) html.Append($"<th>{E(name)}</th>");
        html.Append("</tr><tr>");
        foreach (var (_, value) in rows) html.Append($"<td>{N(value)}</td>");
        html.Append("</tr></table>\n");
    }

    private static void AppendHistograms(StringBuilder html, RunMetrics m)
    {
        var rocAuc = m.Tasks.Where(t => t.TestRocAuc is not null).Select(t => t.TestRocAuc!.Value).ToArray();
        var r2 = m.Tasks.Where(t => t.TestR2 is not null).Select(t => t.TestR2!.Value).ToArray();
        if (rocAuc.Length > 0)
        {
            html.Append("<section><h2>Test ROC-AUC per task</h2>\n");
            Image(html, ReportPlots.Histogram(rocAuc, "test ROC-AUC", Math.Min(0.5, Math.Floor(rocAuc.Min() * 20) / 20), 1.0),
                "histogram of per-task test ROC-AUC", ReportPlots.SmallWidth);
            var undefined = m.Tasks.Count(t => t.Kind == "classification" && t.TestRocAuc is null);
            if (undefined > 0) html.Append($"<p class=\"note\">{undefined:N0} classification task(s) have no test ROC-AUC (one class in the test split).</p>\n");
            html.Append("</section>\n");
        }
        if (r2.Length > 0)
        {
            html.Append("<section><h2>Test R² per task</h2>\n");
            Image(html, ReportPlots.Histogram(r2, "test R²", Math.Min(0, Math.Floor(r2.Min() * 10) / 10), 1.0), "histogram of per-task test R²", ReportPlots.SmallWidth);
            html.Append("</section>\n");
        }
    }

    private static void AppendWorkers(StringBuilder html, RunMetrics m)
    {
        html.Append("<h2>Workers</h2>\n<table><thead><tr><th>worker</th><th>address</th><th>device</th><th>slots</th><th>tasks</th><th>task names</th></tr></thead><tbody>\n");
        foreach (var w in m.Workers)
        {
            var tasks = w.Tasks ?? [];
            const int shown = 12; // the task table has every task's worker; this one stays a line per worker
            var names = string.Join(", ", tasks.Take(shown).Select(E)) + (tasks.Length > shown ? $", … {tasks.Length - shown:N0} more" : "");
            html.Append($"<tr><td>{E(w.Id)}</td><td>{E(w.Address)}</td><td>{E(w.Device)}</td><td class=\"n\">{w.Slots}</td><td class=\"n\">{tasks.Length:N0}</td><td>{names}</td></tr>\n");
        }
        html.Append("</tbody></table>\n");
    }

    private static void AppendEvents(StringBuilder html, RunMetrics m, bool soFar)
    {
        html.Append("<h2>Events</h2>\n");
        var events = m.Events ?? [];
        if (events.Count == 0)
        {
            html.Append(soFar ? "<p>None so far.</p>\n" : "<p>None: every worker stayed for the whole run, and it was not resumed.</p>\n");
            return;
        }
        html.Append("<table><thead><tr><th>time (UTC)</th><th>event</th><th>worker</th><th>tasks moved</th><th>from epoch</th><th>recovery (s)</th></tr></thead><tbody>\n");
        foreach (var e in events)
            html.Append($"<tr><td>{e.Time.ToUniversalTime():yyyy-MM-dd HH:mm:ss}</td><td>{E(e.KindName)}</td><td>{E(e.Worker)}</td><td class=\"n\">{e.TasksMoved:N0}</td><td class=\"n\">{e.Epoch}</td><td class=\"n\">{e.RecoverySeconds?.ToString("F1") ?? ""}</td></tr>\n");
        html.Append("</tbody></table>\n");
    }

    private static void AppendTasks(StringBuilder html, RunMetrics m)
    {
        var classification = m.Tasks.Any(t => t.Kind != "regression");
        var regression = m.Tasks.Any(t => t.Kind == "regression");
        var columns = new List<(string Header, bool Numeric, Func<TaskReport, string> Cell)>
        {
            ("task", false, t => E(t.Name)),
            ("kind", false, t => E(t.Kind)),
            ("worker", false, t => E(t.Worker)),
            ("train labels", true, t => t.TrainLabels.ToString(CultureInfo.InvariantCulture)),
            ("valid labels", true, t => t.ValidLabels.ToString(CultureInfo.InvariantCulture)),
            ("test labels", true, t => t.TestLabels.ToString(CultureInfo.InvariantCulture)),
        };
        if (classification)
            columns.AddRange(
            [
                ("train positives", true, t => t.Kind == "regression" ? "–" : t.TrainPositives.ToString(CultureInfo.InvariantCulture)),
                ("test positives", true, t => t.Kind == "regression" ? "–" : t.TestPositives.ToString(CultureInfo.InvariantCulture)),
                ("train ROC-AUC", true, t => N(t.TrainRocAuc)),
                ("valid ROC-AUC", true, t => N(t.ValidRocAuc)),
                ("test ROC-AUC", true, t => N(t.TestRocAuc)),
                ("valid PRC-AUC", true, t => N(t.ValidPrcAuc)),
                ("test PRC-AUC", true, t => N(t.TestPrcAuc)),
            ]);
        if (regression)
            columns.AddRange(
            [
                ("test RMSE", true, t => N(t.TestRmse)),
                ("test MAE", true, t => N(t.TestMae)),
                ("test R²", true, t => N(t.TestR2)),
            ]);
        columns.Add(("single class in", false, t => E(string.Join(" ", t.SingleClassIn ?? []))));

        html.Append($"<h2>Tasks</h2>\n<p class=\"note\">{m.Tasks.Count:N0} tasks; click a column header to sort (again to reverse). – : does not apply or undefined.</p>\n");
        html.Append("<table id=\"tasks\" class=\"sortable\"><thead><tr>");
        foreach (var (header, numeric, _) in columns) html.Append($"<th data-type=\"{(numeric ? "number" : "text")}\">{E(header)}</th>");
        html.Append("</tr></thead><tbody>\n");
        foreach (var task in m.Tasks)
        {
            html.Append("<tr>");
            foreach (var (_, numeric, cell) in columns) html.Append(numeric ? "<td class=\"n\">" : "<td>").Append(cell(task)).Append("</td>");
            html.Append("</tr>\n");
        }
        html.Append("</tbody></table>\n");
    }

    internal static void Image(StringBuilder html, byte[] png, string description, int width) =>
        html.Append($"<figure><img alt=\"{E(description)}\" width=\"{width}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"></figure>\n");

    internal static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    private static string N(double? value) => value is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "–";

    internal const string Style = """
        body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
        h1 small{font-weight:normal;color:#666;font-size:55%}
        h2{margin-top:1.6em;border-bottom:1px solid #ddd}
        .facts,.note{color:#555}
        figure{margin:.5em 0}
        .pair{display:flex;flex-wrap:wrap;gap:0 2em}
        .pair section{flex:1 1 460px}
        img{max-width:100%;height:auto}
        table{border-collapse:collapse;font-size:90%}
        th,td{border:1px solid #ddd;padding:.2em .5em}
        th{background:#f4f4f4;text-align:left}
        td.n{text-align:right;font-variant-numeric:tabular-nums}
        #tasks td:first-child{white-space:nowrap}
        table.summary td{font-size:130%;text-align:center}
        .banner{background:#fff4d6;border:1px solid #e0b84c;padding:.5em .8em}
        .banner.failed{background:#fde2e2;border-color:#d66}
        table.sortable th{cursor:pointer;user-select:none;position:sticky;top:0}
        table.sortable th[data-dir=asc]::after{content:" ▲"}
        table.sortable th[data-dir=desc]::after{content:" ▼"}
        """;

    // numbers sort highest first on the first click, text A to Z; cells that are not numbers ("–") always go last
    private const string SortScript = """
        document.querySelectorAll("table.sortable th").forEach((th, column) => th.addEventListener("click", () => {
          const table = th.closest("table"), body = table.tBodies[0], numeric = th.dataset.type === "number";
          const dir = th.dataset.dir ? (th.dataset.dir === "asc" ? "desc" : "asc") : (numeric ? "desc" : "asc");
          table.querySelectorAll("th").forEach(h => delete h.dataset.dir);
          th.dataset.dir = dir;
          const sign = dir === "asc" ? 1 : -1;
          const keyed = Array.from(body.rows, row => {
            const text = row.cells[column].textContent;
            return [numeric ? parseFloat(text) : text, row];
          });
          keyed.sort(([a], [b]) => {
            if (!numeric) return sign * a.localeCompare(b);
            if (isNaN(a) || isNaN(b)) return isNaN(a) - isNaN(b);
            return sign * (a - b);
          });
          const sorted = document.createDocumentFragment();
          keyed.forEach(([, row]) => sorted.appendChild(row));
          body.appendChild(sorted);
        }));
        """;
}
