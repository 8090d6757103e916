using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Model;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh precision</c>: the trunk's share of a worker's work in each precision, in one process, the
/// precisions interleaved round by round so that a shared machine's changing load falls on all of them alike. A
/// training step is forward (with dropout), heads, loss and backward on one batch (what a worker computes per trunk
/// step; the optimizer runs in float32 whatever the precision); an embedding is the no-grad forward of 4,096 rows
/// (evaluation and the head epochs of the alternate schedule). Medians over rounds.
/// </summary>
public static class PrecisionBench
{
    private const int EmbedRows = 4096;

    public static Command Create()
    {
        var layers = new Option<string>("--layers") { Description = "trunk hidden layers", DefaultValueFactory = _ => "2000,100" };
        var bits = new Option<int>("--bits") { Description = "feature width (ECFP bits)", DefaultValueFactory = _ => 2048 };
        var batchSize = new Option<int>("--batch-size") { Description = "rows per training step", DefaultValueFactory = _ => 128 };
        var tasks = new Option<int>("--tasks") { Description = "head columns", DefaultValueFactory = _ => 12 };
        var steps = new Option<int>("--steps") { Description = "training steps per precision and round", DefaultValueFactory = _ => 20 };
        var rounds = new Option<int>("--rounds") { Description = "rounds (the first warms up and is not counted)", DefaultValueFactory = _ => 6 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:<index> (tf32 is measured on CUDA only)", DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("precision", "trunk training step and embedding time in fp32, bf16 (and tf32 on CUDA)")
            { layers, bits, batchSize, tasks, steps, rounds, device, json };
        command.SetAction(parse =>
        {
            var onDevice = DeviceName.Parse(parse.GetValue(device)!);
            var sizes = parse.GetValue(layers)!.Split(',', StringSplitOptions.TrimEntries).Select(t => int.TryParse(t, out var n) && n > 0
                ? n : throw new ArgumentException($"--layers: '{parse.GetValue(layers)}' is not a list of positive sizes")).ToArray();
            var (width, rows, stepCount, roundCount) = (parse.GetValue(bits), parse.GetValue(batchSize), parse.GetValue(steps), parse.GetValue(rounds));
            if (width < 8 || rows < 1 || stepCount < 1 || roundCount < 2 || parse.GetValue(tasks) < 1)
                throw new ArgumentException("--bits ≥ 8, --batch-size ≥ 1, --tasks ≥ 1, --steps ≥ 1 and --rounds ≥ 2 are needed");
            Precision[] precisions = onDevice.type == DeviceType.CUDA ? [Precision.Fp32, Precision.Tf32, Precision.Bf16] : [Precision.Fp32, Precision.Bf16];
            var report = new BenchReport("precision");
            report.Note(BenchReport.Machine);
            report.Note($"uptime: {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")}");

            using var batch = Fingerprints(rows, width, onDevice, 1);
            using var many = FingerprintRows(EmbedRows, width, onDevice, 2);
            using var labelStore = Labels(rows, parse.GetValue(tasks), onDevice);
            var labels = labelStore.All();
            var times = precisions.ToDictionary(p => p, _ => (Step: new List<double>(), StepCpu: new List<double>(), Embed: new List<double>(), EmbedCpu: new List<double>()));
            using var dropout = new Generator(7, onDevice);
            for (var round = 0; round < roundCount; round++)
            {
                // alternate the order each round: neither precision always runs right after the other
                foreach (var precision in round % 2 == 0 ? precisions : precisions.Reverse())
                {
                    PrecisionMode.Apply(precision, onDevice);
                    using var trunk = new FingerprintTrunk(width, sizes, 0, onDevice) { ComputeType = precision.TrunkComputeType() };
                    using var heads = new HeadBlock(sizes[^1], Enumerable.Range(0, parse.GetValue(tasks)).ToArray(), 0, onDevice);
                    var (stepWall, stepCpu) = Timed(onDevice, () =>
                    {
                        for (var s = 0; s < stepCount; s++)
                        {
                            using var scope = NewDisposeScope();
                            MaskedLoss.Sum(heads.Logits(trunk.Forward(batch, Dropout.Masks(0.25, dropout, onDevice, batch.shape[0], sizes)), labels), labels).backward();
                            foreach (var p in trunk.Parameters.Concat(heads.Parameters)) p.grad?.zero_();
                        }
                    });
                    var (embedWall, embedCpu) = Timed(onDevice, () =>
                    {
                        using var scope = NewDisposeScope();
                        trunk.Embed(many);
                    });
                    if (round == 0) continue; // kernels, caches and the allocator warm up
                    var t = times[precision];
                    t.Step.Add(stepWall / stepCount);
                    t.StepCpu.Add(stepCpu / stepCount);
                    t.Embed.Add(embedWall);
                    t.EmbedCpu.Add(embedCpu);
                }
            }
            PrecisionMode.Apply(Precision.Fp32, onDevice);

            report.Add("device", parse.GetValue(device)!);
            report.Add("layers", parse.GetValue(layers)!);
            report.Add("batch_size", rows);
            report.Add("rounds_counted", roundCount - 1);
            foreach (var precision in precisions)
            {
                var t = times[precision];
                var name = precision.Name();
                report.Add($"{name}_step_ms", 1000 * Median(t.Step));
                report.Add($"{name}_step_cpu_ms", 1000 * Median(t.StepCpu));
                report.Add($"{name}_embed_{EmbedRows}_ms", 1000 * Median(t.Embed));
                report.Add($"{name}_embed_{EmbedRows}_cpu_ms", 1000 * Median(t.EmbedCpu));
                if (precision == Precision.Fp32) continue;
                var reference = times[Precision.Fp32];
                report.Add($"{name}_to_fp32_step_ratio", Median(t.Step) / Median(reference.Step));
                report.Add($"{name}_to_fp32_step_cpu_ratio", Median(t.StepCpu) / Median(reference.StepCpu));
                report.Add($"{name}_to_fp32_embed_ratio", Median(t.Embed) / Median(reference.Embed));
                report.Add($"{name}_to_fp32_embed_cpu_ratio", Median(t.EmbedCpu) / Median(reference.EmbedCpu));
            }
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    /// <summary>Wall and process CPU seconds of <paramref name="work"/>, waiting for a GPU to finish it.</summary>
    private static (double Wall, double Cpu) Timed(Device device, Action work)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        work();
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
        var wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu).TotalSeconds);
    }

    /// <summary>Rows of 40 set bits among <paramref name="bits"/>, like ECFP4 fingerprints of drug-sized molecules.</summary>
    private static Tensor Fingerprints(int rows, int bits, Device device, int seed)
    {
        var random = new Random(seed);
        var values = new float[(long)rows * bits];
        for (var r = 0; r < rows; r++)
            for (var k = 0; k < Math.Min(40, bits); k++) values[(long)r * bits + random.Next(bits)] = 1;
        using var cpu = tensor(values, [rows, bits]);
        return cpu.to(device);
    }

    /// <summary>The same kind of rows, stored as a worker stores its rows (packed on the device).</summary>
    private static DeviceFeatures FingerprintRows(int rows, int bits, Device device, int seed)
    {
        var random = new Random(seed);
        var features = Enumerable.Range(0, rows).Select(_ =>
        {
            var set = Enumerable.Range(0, Math.Min(40, bits)).Select(_ => random.Next(bits)).Distinct().Order().ToArray();
            return new SparseFeatures(set, Enumerable.Repeat(1f, set.Length).ToArray());
        }).ToArray();
        return DeviceFeatures.Create(features, Enumerable.Range(0, rows).ToArray(), bits, device);
    }

    private static DeviceLabels Labels(int rows, int tasks, Device device)
    {
        var random = new Random(3);
        var values = Enumerable.Range(0, rows * tasks).Select(_ => random.NextDouble() < 0.3 ? (random.NextDouble() < 0.1 ? 1f : 0f) : float.NaN).ToArray();
        return DeviceLabels.FromDense(values, tasks, new bool[tasks], Enumerable.Repeat(1f, tasks).ToArray(), device);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
