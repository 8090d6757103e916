using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Data;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh generate --synthetic ROWS,TASKS,DENSITY</c>: streams every row of a synthetic dataset (in parallel,
/// nothing kept) and reports its shape and the generator's speed and memory: the check that 1M rows × 10,000 tasks
/// needs no dense label matrix.
/// </summary>
public static class GenerateBench
{
    public static Command Create()
    {
        var synthetic = new Option<string>("--synthetic") { Description = "ROWS,TASKS,DENSITY[,SEED]", DefaultValueFactory = _ => "1000000,10000,0.01" };
        var bits = new Option<int>("--bits") { Description = "feature width", DefaultValueFactory = _ => 2048 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("generate", "stream a synthetic dataset and report its shape, speed and memory") { synthetic, bits, json };
        command.SetAction(parse =>
        {
            var dataset = SyntheticDataset.Parse(parse.GetValue(synthetic)!, parse.GetValue(bits));
            var report = new BenchReport("generate");
            report.Note(BenchReport.Machine);
            var clock = Stopwatch.StartNew();
            long labels = 0, positives = 0, bitsSet = 0;
            Parallel.For(0, dataset.Rows, () => (Labels: 0L, Positives: 0L, Bits: 0L), (row, _, local) =>
            {
                var r = dataset.Row(row);
                var p = 0;
                foreach (var y in r.Labels) if (y == 1) p++;
                return (local.Labels + r.Labels.Length, local.Positives + p, local.Bits + r.Bits.Length);
            }, local =>
            {
                Interlocked.Add(ref labels, local.Labels);
                Interlocked.Add(ref positives, local.Positives);
                Interlocked.Add(ref bitsSet, local.Bits);
            });
            var seconds = clock.Elapsed.TotalSeconds;
            report.Add("dataset", dataset.Descriptor);
            report.Add("rows", dataset.Rows);
            report.Add("tasks", dataset.Tasks);
            report.Add("labels", labels);
            report.Add("label_density", (double)labels / ((double)dataset.Rows * dataset.Tasks));
            report.Add("positive_rate", labels == 0 ? 0.0 : (double)positives / labels);
            report.Add("bits_per_row", (double)bitsSet / dataset.Rows);
            report.Add("seconds", seconds);
            report.Add("rows_per_second", dataset.Rows / seconds);
            report.Add("peak_working_set_mb", Process.GetCurrentProcess().PeakWorkingSet64 / 1e6);
            report.Add("dense_label_matrix_mb", (double)dataset.Rows * dataset.Tasks * sizeof(float) / 1e6);
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }
}
