using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using MtnnCluster.Telemetry;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// Deploy/prometheus/: the alert rules through promtool (syntax and their unit tests), the Grafana dashboard
/// against the instruments the code creates, and Debian's real Prometheus server scraping a coordinator and a
/// worker on 127.0.0.1, asked through its HTTP API for the project's series and labels.
/// </summary>
[Collection(Processes.Collection)]
public sealed partial class PrometheusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ToolLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private static string Folder => RepoPaths.File("Deploy/prometheus");

    [Fact]
    public void The_alert_rules_pass_promtool_check_and_their_unit_tests()
    {
        var check = Tool.Output("promtool", ["check", "rules", "alerts.yaml"], ToolLimit, Folder);
        Assert.Contains("SUCCESS: 5 rules found", check);
        var test = Tool.Run("promtool", ["test", "rules", "alerts.test.yaml"], ToolLimit, Folder);
        Assert.True(test.Code == 0, test.Stdout + test.Stderr);
        Assert.Contains("SUCCESS", test.Stdout);
        foreach (var alert in new[] { "MtnnNoProgress", "MtnnWorkerLost", "MtnnCheckpointFailed", "MtnnExchangeSlow" })
            Assert.Contains($"alertname: {alert}", File.ReadAllText(Path.Combine(Folder, "alerts.test.yaml"))); // each one is tested
    }

    [GeneratedRegex(@"\bmtnn_[a-z0-9_]+")]
    private static partial Regex MetricName();

    [Fact]
    public void The_dashboard_and_the_rules_query_only_series_the_code_exports()
    {
        var known = ExportedSeries();
        Assert.Contains("mtnn_train_rows_total", known);
        Assert.Contains("mtnn_train_step_duration_seconds_bucket", known);

        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToArray();
        var titles = panels.Select(p => p.GetProperty("title").GetString()!).ToArray();
        foreach (var topic in new[] { "Throughput", "loss", "Validation", "Exchange share", "Workers", "Events" })
            Assert.Contains(titles, t => t.Contains(topic, StringComparison.OrdinalIgnoreCase));
        var queries = panels.SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!).ToArray();
        Assert.All(panels, p => Assert.NotEmpty(p.GetProperty("targets").EnumerateArray()));

        var rules = File.ReadAllText(Path.Combine(Folder, "alerts.yaml"));
        foreach (var (source, text) in queries.Select(q => ("dashboard.json", q)).Append(("alerts.yaml", rules)))
            foreach (var name in MetricName().Matches(text).Select(m => m.Value))
                Assert.True(known.Contains(name), $"{source} queries {name}, which no instrument in {nameof(MtnnTelemetry)} exports (known: {string.Join(", ", known.Order())})");
    }

    /// <summary>
    /// The Prometheus names of the instruments Meter MtnnCluster creates, by the OpenTelemetry exporter's rules:
    /// dots become underscores, the unit is appended (s: _seconds, By: _bytes; {annotations} are dropped) unless the
    /// name ends with it, counters end in _total, histograms give _bucket, _sum and _count, and both a _created
    /// series (OpenMetrics' creation time, which Prometheus keeps as a series of its own).
    /// </summary>
    internal static HashSet<string> ExportedSeries()
    {
        RuntimeHelpers.RunClassConstructor(typeof(MtnnTelemetry).TypeHandle);
        var instruments = new List<Instrument>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == MtnnTelemetry.Name) lock (instruments) instruments.Add(instrument);
            };
            listener.Start();
        }
        Assert.NotEmpty(instruments);
        var names = new HashSet<string>();
        foreach (var instrument in instruments)
        {
            var name = instrument.Name.Replace('.', '_');
            var unit = instrument.Unit switch { "s" => "seconds", "By" => "bytes", _ => null };
            if (unit is not null && !name.EndsWith("_" + unit, StringComparison.Ordinal)) name += "_" + unit;
            var type = instrument.GetType().GetGenericTypeDefinition();
            if (type == typeof(Counter<>)) names.UnionWith([name + "_total", name + "_created"]);
            else if (type == typeof(Histogram<>)) names.UnionWith([name + "_bucket", name + "_sum", name + "_count", name + "_created"]);
            else names.Add(name);
        }
        return names;
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_a_coordinator_and_a_worker_and_serves_the_projects_series_with_their_labels()
    {
        var (remoting, coordinatorMetrics, workerMetrics, web) =
            (HealthEndpointTests.FreePort(), HealthEndpointTests.FreePort(), HealthEndpointTests.FreePort(), HealthEndpointTests.FreePort());
        var scratch = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mtnn-prometheus-{Guid.NewGuid():N}")).FullName;
        var config = Path.Combine(scratch, "prometheus.yml");
        File.WriteAllText(config, $$"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {{Path.Combine(Folder, "alerts.yaml")}}
            scrape_configs:
              - job_name: mtnn
                static_configs:
                  - targets: ["127.0.0.1:{{coordinatorMetrics}}"]
                    labels: {role: coordinator}
                  - targets: ["127.0.0.1:{{workerMetrics}}"]
                    labels: {role: worker}
            """);
        using var processes = new ProcessGroup(output);
        Process? prometheus = null;
        try
        {
            // a small model with more epochs than the test waits for: stopped with the group once the series are in
            processes.Start(["coordinator", "--bind", $"127.0.0.1:{remoting}", "--min-workers", "1", "--data", RepoPaths.File("examples/tox21.csv"),
                "--tasks", "NR-AR,SR-ARE", "--epochs", "500", "--patience", "0", "--layers", "64,32", "--bits", "1024",
                "--out", Path.Combine(scratch, "run"), "--metrics-port", $"{coordinatorMetrics}"]);
            processes.Start(["worker", "--seed", $"127.0.0.1:{remoting}", "--bind", "127.0.0.1:0", "--id", "w0", "--metrics-port", $"{workerMetrics}"]);
            prometheus = StartPrometheus(config, Path.Combine(scratch, "data"), web);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{web}"), Timeout = TimeSpan.FromSeconds(10) };
            var clock = Stopwatch.StartNew();
            // series name -> labels every one of its samples must carry (besides job and instance)
            var expected = new Dictionary<string, string[]>
            {
                ["mtnn_train_rows_total"] = ["phase"],
                ["mtnn_train_step_duration_seconds_bucket"] = ["phase", "le"],
                ["mtnn_exchange_bytes_total"] = ["direction", "message"],
                ["mtnn_round_duration_seconds_count"] = ["round"],
                ["mtnn_train_loss"] = ["phase"],
                ["mtnn_validation_score"] = [],
                ["mtnn_epoch"] = [],
                ["mtnn_workers_alive"] = [],
                ["mtnn_task_loss"] = ["task"],
            };
            var found = new Dictionary<string, JsonElement[]>();
            while (found.Count < expected.Count)
            {
                if (prometheus.HasExited) Assert.Fail($"prometheus exited ({prometheus.ExitCode})");
                if (clock.Elapsed > Limit) Assert.Fail($"after {Limit} Prometheus still has no {string.Join(", ", expected.Keys.Except(found.Keys))}");
                await Task.Delay(1000);
                foreach (var name in expected.Keys.Except(found.Keys).ToArray())
                    if (await Query(http, name) is { Length: > 0 } samples && (name != "mtnn_exchange_bytes_total" || Roles(samples).Length == 2))
                        found[name] = samples;
            }
            output.WriteLine($"every series in Prometheus after {clock.Elapsed.TotalSeconds:F1} s");

            foreach (var (name, labels) in expected)
                foreach (var sample in found[name])
                {
                    var metric = sample.GetProperty("metric");
                    foreach (var label in labels.Append("job").Append("instance"))
                        Assert.True(metric.TryGetProperty(label, out _), $"{name}: a series without label {label}: {metric}");
                }
            string Label(string name, string label) => found[name][0].GetProperty("metric").GetProperty(label).GetString()!;
            Assert.Equal("worker", Label("mtnn_train_rows_total", "role"));
            Assert.Equal("joint", Label("mtnn_train_rows_total", "phase"));
            Assert.Equal("coordinator", Label("mtnn_workers_alive", "role"));
            Assert.Equal("1", found["mtnn_workers_alive"][0].GetProperty("value")[1].GetString());
            Assert.Equal(["NR-AR", "SR-ARE"], found["mtnn_task_loss"].Select(s => s.GetProperty("metric").GetProperty("task").GetString()).Order());
            var directions = found["mtnn_exchange_bytes_total"].Select(s => s.GetProperty("metric").GetProperty("direction").GetString()).Distinct();
            Assert.Equal(["received", "sent"], directions.Order());
            // both nodes count (the loop waits for both): rank 0 sends the trunk with its scores, the coordinator receives it
            Assert.Equal(["coordinator", "worker"], Roles(found["mtnn_exchange_bytes_total"]));
            // the resource attributes the docs promise, on target_info
            Assert.Equal(["coordinator", "worker"], (await Query(http, "target_info"))!.Select(s => s.GetProperty("metric").GetProperty("mtnn_role").GetString()).Order());
            // everything the scrape holds under mtnn_ is a name the code's instruments give (what the dashboard test relies on)
            var served = (await Query(http, "{__name__=~\"mtnn_.+\"}"))!.Select(s => s.GetProperty("metric").GetProperty("__name__").GetString()!).ToHashSet();
            output.WriteLine($"served: {string.Join(", ", served.Order())}");
            Assert.Subset(ExportedSeries(), served);

            // the alert rules load and evaluate against the real series without error
            using var rules = JsonDocument.Parse(await http.GetStringAsync("/api/v1/rules"));
            var loaded = rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToArray();
            Assert.Equal(5, loaded.Length);
            Assert.All(loaded, r => Assert.Equal("ok", r.GetProperty("health").GetString()));
        }
        finally
        {
            if (prometheus is not null)
            {
                if (!prometheus.HasExited) prometheus.Kill(entireProcessTree: true);
                prometheus.WaitForExit(10_000);
                prometheus.Dispose();
            }
            processes.Dispose();
            Directory.Delete(scratch, recursive: true);
        }
    }

    private Process StartPrometheus(string config, string data, int port)
    {
        var info = new ProcessStartInfo("prometheus") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { $"--config.file={config}", $"--storage.tsdb.path={data}", $"--web.listen-address=127.0.0.1:{port}" })
            info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"prometheus is not on the PATH: {Tool.InstallHint}", e);
        }
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            try { output.WriteLine($"[prometheus] {e.Data}"); }
            catch (InvalidOperationException) { } // the test has finished; its log is closed
        };
        process.BeginErrorReadLine();
        process.StandardOutput.ReadToEndAsync();
        return process;
    }

    /// <summary>The scrape targets' role labels (this test's configuration) that samples come from.</summary>
    private static string[] Roles(IEnumerable<JsonElement> samples) =>
        samples.Select(s => s.GetProperty("metric").GetProperty("role").GetString()!).Distinct().Order().ToArray();

    /// <summary>An instant query's result vector, or null while the server does not answer yet.</summary>
    private static async Task<JsonElement[]?> Query(HttpClient http, string query)
    {
        try
        {
            using var answer = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(query)}"));
            Assert.Equal("success", answer.RootElement.GetProperty("status").GetString());
            return answer.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(e => e.Clone()).ToArray();
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}
