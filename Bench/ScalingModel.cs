using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Collectives;
using MtnnCluster.Model;
using MtnnCluster.Training;
using MtnnCluster.Training.Run;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh scaling --model</c>: the predicted epoch time and parallel efficiency of N GPU (and CPU) workers,
/// from <see cref="ScaleOutModel"/> with the constants this host can measure (the TCP group's per-byte cost and
/// latency on loopback, the host's copy rate, one CPU worker's step time per row) and the ones it cannot, stated
/// as assumptions with options to change them. Dataset statistics (rows, tasks, which workers label each row under
/// the task placement a run would use) come from the project's own loader.
/// </summary>
public static class ScalingModel
{
    public sealed class Options
    {
        public Option<string?> Datasets { get; } = new("--model-datasets") { Description = "comma-separated datasets for --model (default: examples/toxcast.csv.gz,examples/fsmol-train.csv.gz)" };
        public Option<string> Workers { get; } = new("--model-workers") { Description = "worker counts for --model", DefaultValueFactory = _ => "1,8,64,256" };
        public Option<string> Links { get; } = new("--links") { Description = "--model: link rates in Gb/s", DefaultValueFactory = _ => "25,100" };
        public Option<double> GpuTflops { get; } = new("--gpu-tflops") { Description = "--model, assumed: effective TF32 TFLOP/s of the trunk's small matmuls on one GPU", DefaultValueFactory = _ => 30 };
        public Option<double> StepFloorMs { get; } = new("--step-floor-ms") { Description = "--model, assumed: a GPU step's floor in ms (about 100 kernels of ~15 µs)", DefaultValueFactory = _ => 1.5 };
        public Option<double> LatencyUs { get; } = new("--latency-us") { Description = "--model, assumed: network latency per message in µs (added to the measured software latency)", DefaultValueFactory = _ => 10 };
        public Option<double> PcieGbps { get; } = new("--pcie-gbytes") { Description = "--model, assumed: GB/s of a device↔host copy of pageable memory", DefaultValueFactory = _ => 12 };
        public Option<double> CommShare { get; } = new("--comm-share") { Description = "--model: the communication share of a step --sync-every must keep under", DefaultValueFactory = _ => 0.1 };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Datasets, Workers, Links, GpuTflops, StepFloorMs, LatencyUs, PcieGbps, CommShare }) command.Options.Add(option);
        }
    }

    /// <summary>What was measured on this host.</summary>
    private sealed record Measured(double SoftwareBytesPerSecond, double SoftwareLatencySeconds, double HostCopyBytesPerSecond, double CpuSecondsPerRow, int Threads);

    /// <summary>A dataset as the model needs it: its size, and per worker count the busiest worker's embedding rows per own row.</summary>
    private sealed record DatasetStats(string Name, ScaleOutWorkload Work, int Rows, int Tasks, double CellsPerRow, Dictionary<int, (double Busiest, double MeanRanks)> Peers);

    public static int Run(ParseResult parse, Options o, string extraTrainOptions, bool json)
    {
        var counts = ParseList(parse.GetValue(o.Workers)!, "--model-workers", int.Parse);
        var links = ParseList(parse.GetValue(o.Links)!, "--links", double.Parse);
        var paths = (parse.GetValue(o.Datasets) ?? "examples/toxcast.csv.gz,examples/fsmol-train.csv.gz")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => Path.IsPathRooted(p) ? p : Path.Combine(BenchOptions.RepoRoot, p)).ToArray();
        var share = parse.GetValue(o.CommShare);
        var report = new BenchReport("scaling-model");
        report.Note(BenchReport.Machine);
        string[] extra = extraTrainOptions.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Console.WriteLine("== constants measured on this host");
        var measured = Measure(Spec(paths[0], extra));
        report.Add("tcp_software_gb_per_s", measured.SoftwareBytesPerSecond / 1e9);
        report.Add("tcp_software_latency_us", measured.SoftwareLatencySeconds * 1e6);
        report.Add("host_copy_gb_per_s", measured.HostCopyBytesPerSecond / 1e9);
        report.Add("cpu_ms_per_row", measured.CpuSecondsPerRow * 1e3);
        report.Note($"tcp_software: 2 ranks of TcpProcessGroups on 127.0.0.1, all-reduce of a trunk-sized buffer, median; bytes each rank sent / seconds. " +
                    $"latency: all-to-all of one float, median. Both ranks share this host's {Environment.ProcessorCount} cores.");
        report.Note($"host_copy: one trunk-sized float[] copied, median. cpu: ShardTrainer.TrainSteps alone on {Path.GetFileName(paths[0])} " +
                    $"({measured.Threads} compute threads), steps 3-10 of an epoch / rows.");

        var gpuFlops = parse.GetValue(o.GpuTflops) * 1e12;
        var floor = parse.GetValue(o.StepFloorMs) * 1e-3;
        var latency = parse.GetValue(o.LatencyUs) * 1e-6 + measured.SoftwareLatencySeconds;
        var pcie = parse.GetValue(o.PcieGbps) * 1e9;
        Console.WriteLine("== assumed (options)");
        report.Add("gpu_tflops", gpuFlops / 1e12);
        report.Add("gpu_step_floor_ms", floor * 1e3);
        report.Add("network_latency_us", parse.GetValue(o.LatencyUs));
        report.Add("pcie_gb_per_s", pcie / 1e9);
        report.Note("gpu_tflops: TF32 on matrices of 128-2048 rows reaches a fraction of an H100's ~400 peak; floor: ~100 kernels a step " +
                    "(trunk 2 × 4 forward, ~2× backward, feature unpacking, heads, loss, 2 AdamWs of ~7 ops per tensor) at ~15 µs each from .NET.");

        PrintFormula(share);
        var (trunkParameters, batchSize, flopsPerRow) = (0L, 0, 0.0);
        foreach (var path in paths)
        {
            var stats = Stats(Spec(path, extra), counts);
            var work = stats.Work;
            (trunkParameters, batchSize, flopsPerRow) = (work.TrunkParameters, work.BatchSize, work.FlopsPerRow);
            Console.WriteLine($"== {stats.Name}: {stats.Rows:N0} rows ({work.TrainRows:N0} train), {stats.Tasks:N0} tasks, {stats.CellsPerRow:0.##} labelled cells per row; " +
                              $"P = {work.TrunkParameters:N0} trunk parameters ({work.TrunkBytes / 1e6:0.#} MB), hidden {work.Hidden}, B = {work.BatchSize}, {work.StepsPerEpoch} steps per epoch");
            Console.WriteLine("  N: distinct workers labelling a row (mean) | busiest worker's embedding rows per own row");
            foreach (var n in counts) Console.WriteLine($"  {n,4}: {stats.Peers[n].MeanRanks,7:0.##} | {stats.Peers[n].Busiest,6:0.###}");
            Console.WriteLine($"  {"device",-8} {"link",8} {"N",5} {"B/N",7} {"step ms",9} {"compute",8} {"a2a×2",8} {"reduce",8} {"comm",6} {"epoch s",9} {"eff",7} {"K<" + share * 100 + "%",7} {"eff@K",7} {"B@90%",9}");
            var cpuFlops = work.FlopsPerRow / measured.CpuSecondsPerRow;
            foreach (var (device, flops, stepFloor, software, staging) in new[]
                     {
                         // the step as written: D2H, into the float[], tensor(float[]), H2D around the TCP ring
                         ("gpu", gpuFlops, floor, measured.SoftwareBytesPerSecond, 2 / pcie + 2 / measured.HostCopyBytesPerSecond),
                         // what a device-side transport (NCCL) would leave: the link alone, no staging
                         ("gpu/nccl", gpuFlops, floor, double.PositiveInfinity, 0.0),
                         // cat, into the float[], tensor(float[]), copy_ back
                         ("cpu", cpuFlops, 0.0, measured.SoftwareBytesPerSecond, 4 / measured.HostCopyBytesPerSecond),
                     })
            foreach (var link in links)
            {
                var machine = new ScaleOutMachine(flops, stepFloor, link * 1e9 / 8, software, device == "gpu/nccl" ? parse.GetValue(o.LatencyUs) * 1e-6 : latency, staging);
                var one = ScaleOutModel.Step(work, machine, 1, 0);
                foreach (var n in counts)
                {
                    var peers = stats.Peers[n].Busiest;
                    var cost = ScaleOutModel.Step(work, machine, n, peers);
                    var k = ScaleOutModel.SmallestSyncEvery(cost, share);
                    var batch = ScaleOutModel.BatchForEfficiency(work, machine, n, peers);
                    var key = $"{Key(stats.Name)}_{device.Replace('/', '_')}_{link}g_{n}";
                    Console.WriteLine($"  {device,-8} {link + " Gb/s",8} {n,5} {(double)work.BatchSize / n,7:0.#} {cost.Seconds() * 1e3,9:0.###} {cost.Compute * 1e3,8:0.###} " +
                                      $"{2 * cost.AllToAll * 1e3,8:0.###} {cost.Reduction * 1e3,8:0.###} {cost.CommunicationShare(),6:P0} {cost.Seconds() * work.StepsPerEpoch,9:0.###} " +
                                      $"{ScaleOutModel.Efficiency(one, cost, n),7:G3} {(k is { } kk ? kk.ToString(CultureInfo.InvariantCulture) : "none"),7} " +
                                      $"{(k is { } k2 ? ScaleOutModel.Efficiency(one, cost, n, k2).ToString("G3", CultureInfo.InvariantCulture) : "-"),7} {(batch?.ToString("N0", CultureInfo.InvariantCulture) ?? ">4M"),9}");
                    report.Record($"{key}_epoch_s", cost.Seconds() * work.StepsPerEpoch);
                    report.Record($"{key}_efficiency", ScaleOutModel.Efficiency(one, cost, n));
                    report.Record($"{key}_sync_every", k ?? -1);
                }
            }
        }
        PrintVerdict(gpuFlops, floor, trunkParameters, flopsPerRow, batchSize, links.Max(), measured.SoftwareBytesPerSecond);
        report.Finish(json);
        return 0;
    }

    private static void PrintFormula(double share)
    {
        Console.WriteLine("== the model (one step of ShardTrainer.Step on the busiest worker; no overlap of communication and compute)");
        Console.WriteLine("  b = B/N rows; compute = max(floor, f·b / F), f = training FLOPs per row: 6·P for the fingerprint trunk; for the graph trunk");
        Console.WriteLine("        6 × the multiply-adds of W_i on atoms and bonds, depth−1 W_h on 2·bonds directed bonds, W_o on atoms, the layers after the readout");
        Console.WriteLine("  per byte: s = max(1/link, 1/tcp_software); latency α = network + tcp_software latency");
        Console.WriteLine("  a2a = α + b·e·hidden·4·s, twice a step (embeddings out, gradients back); e = the busiest worker's embedding rows sent or");
        Console.WriteLine("        received per own row, from each training row's labelled tasks, TaskAssignment.Balance over N and RowPlacement.Owners");
        Console.WriteLine("  reduce = 2(N−1)/N·4P·s + 2(N−1)·α + 4P·staging (the gradient copied device→host→float[]→device around the ring)");
        Console.WriteLine("  step(K) = compute + 2·a2a + reduce/K (--sync-every K: the replicas averaged every K steps, the all-to-alls stay)");
        Console.WriteLine("  epoch = ceil(train rows / B) · step; efficiency = T1 / (N·TN); with N = 1 nothing moves (TN = compute)");
        Console.WriteLine($"  K<{share:P0}: smallest K with (step − compute)/step < {share:P0} ('none': the all-to-alls alone exceed it); " +
                          "B@90%: smallest global batch (B doubled) with efficiency ≥ 0.9 at K = 1 ('>4M': none up to 4M rows)");
        Console.WriteLine("  gpu: the step as written (TCP group, gradient staged through the host); gpu/nccl: the link alone, no staging, network latency only");
        Console.WriteLine("  heads (6·hidden FLOPs per labelled cell) and the embeddings' own device↔host copies (≤ 51 kB a step) are left out: < 1% here");
    }

    private static void PrintVerdict(double gpuFlops, double floor, long trunkParameters, double flopsPerRow, int batchSize, double fastestLink, double software)
    {
        var ringOnLink = 2.0 * 4 * trunkParameters / (fastestLink * 1e9 / 8);
        var efficientRows = gpuFlops * floor / flopsPerRow;
        Console.WriteLine("== what breaks first");
        Console.WriteLine($"  B/N rows per worker against the GPU's efficient batch: under F·floor/f = {efficientRows:N0} rows a step the floor, not the");
        Console.WriteLine($"  FLOPs, sets a GPU's step time ({flopsPerRow / (4.0 * trunkParameters):0.#} FLOPs per row per gradient byte). B = {batchSize} is under it {(batchSize < efficientRows ? "already at N = 1" : $"from N = {Math.Ceiling(batchSize / efficientRows)}")}: sharing the batch's rows");
        Console.WriteLine("  out then saves no GPU time, while the ring all-reduce of the trunk gradient (2(N−1)/N × 4P per worker, at the TCP group's");
        Console.WriteLine("  software rate when that is below the link's, plus the PCIe staging) is added in full, so efficiency ≈ T1 / (N × (T1 + reduce)).");
        Console.WriteLine($"  From N > {batchSize} a worker has under one row a step and some have none. --sync-every K thins the reduction out but not the");
        Console.WriteLine("  floor or the all-to-alls. What must give is the global batch: B@90% is what it would have to grow to, which changes the");
        Console.WriteLine("  optimisation (fewer steps an epoch, a learning rate to retune, possibly a worse model) and is no longer the run one worker trains.");
        Console.WriteLine($"  The TCP group moves {software * 8 / 1e9:0.#} Gb/s here, so 25 and 100 Gb/s links give the same figures (gpu); without that cap and the");
        Console.WriteLine($"  staging (gpu/nccl) the ring alone still takes ~{ringOnLink * 1e3:0.#} ms at {fastestLink} Gb/s against a {floor * 1e3:0.#} ms step. CPU workers, with no floor");
        Console.WriteLine("  that matters, keep compute proportional to B/N and scale further (the cpu rows); there the TCP group's per-byte cost bounds N.");
    }

    /// <summary>The spec <c>train --data PATH --label-conflicts drop</c> would run (the defaults are train's own).</summary>
    private static RunSpec Spec(string path, string[] extra)
    {
        var options = new TrainOptions();
        var command = new Command("train");
        options.AddTo(command);
        var parsed = command.Parse(["--data", path, "--label-conflicts", "drop", .. extra]);
        if (parsed.Errors.Count > 0) throw new ArgumentException($"--train-options: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
        return options.ToSpec(parsed);
    }

    private static DatasetStats Stats(RunSpec spec, int[] counts)
    {
        var data = PreparedDataset.Load(spec);
        var train = data.Split.Train;
        var work = new ScaleOutWorkload(Trunks.ParameterCount(spec.Model, data.FeatureSize), spec.Model.Layers[^1], spec.Optimizer.BatchSize, train.Length, GraphFlops(spec, data));
        var labelsPerTask = data.Labels.CountPerTask(train);
        var peers = new Dictionary<int, (double, double)>();
        foreach (var n in counts)
        {
            // the placement a run of n workers of one slot each gets: worker ids in rank order
            var assignment = TaskAssignment.Balance(labelsPerTask, Enumerable.Range(0, n).Select(w => new WorkerSlot($"w{w:D5}", 1)).ToArray());
            var layout = ShardLayout.Of(assignment, assignment.Keys.ToDictionary(w => w, _ => 1), data.TaskCount)[$"w{0:D5}"];
            var owners = RowPlacement.Owners(train.Length, layout.SlotsByRank);
            var (sent, received, owned) = (new long[n], new long[n], new long[n]);
            var seen = new int[n];
            long ranks = 0;
            for (var p = 0; p < train.Length; p++)
            {
                var owner = owners[p];
                owned[owner]++;
                foreach (var task in data.Labels.TasksOf(train[p]))
                {
                    var q = layout.TaskRanks[task];
                    if (seen[q] == p + 1) continue; // one embedding per worker, however many of its tasks label the row
                    seen[q] = p + 1;
                    ranks++;
                    if (q == owner) continue;
                    sent[owner]++;
                    received[q]++;
                }
            }
            var busiest = Enumerable.Range(0, n).Max(w => owned[w] == 0 ? 0 : (double)Math.Max(sent[w], received[w]) / owned[w]);
            peers[n] = (busiest, (double)ranks / train.Length);
        }
        return new DatasetStats(Path.GetFileName(data.Path), work, data.RowCount, data.TaskCount, (double)data.Labels.Count / data.RowCount, peers);
    }

    /// <summary>The graph trunk's training FLOPs per molecule at the training rows' mean atoms and bonds; null for the fingerprint trunk.</summary>
    private static double? GraphFlops(RunSpec spec, PreparedDataset data)
    {
        if (data.Graphs is not { } graphs || spec.Model.Graph is not { } graph) return null;
        var train = data.Split.Train;
        var (atoms, bonds) = (train.Average(r => (double)graphs[r].AtomCount), train.Average(r => (double)graphs[r].BondCount));
        return GraphTrunk.TrainingFlops(atoms, bonds, graph.Depth, graph.Hidden, data.FeatureSize, spec.Model.Layers);
    }

    private static Measured Measure(RunSpec spec)
    {
        var data = PreparedDataset.Load(spec);
        var parameters = Trunks.ParameterCount(spec.Model, data.FeatureSize);
        var buffer = new float[parameters];

        // (a) the TCP group: 2 ranks on loopback, one listener each as one per process; TCP alone (as between
        // hosts): on one host the reductions would otherwise go through shared memory
        double reduceSeconds, latencySeconds;
        using (var first = new TcpProcessGroups("127.0.0.1", "127.0.0.1", sameHostMemory: false))
        using (var second = new TcpProcessGroups("127.0.0.1", "127.0.0.1", sameHostMemory: false))
        {
            var endpoints = new[] { first.Endpoint, second.Endpoint };
            var factories = new[] { first, second };
            var groups = OnBothRanks(r => (IProcessGroup)factories[r].Join("model", r, endpoints, TimeSpan.FromSeconds(30)));
            try
            {
                reduceSeconds = OnBothRanks(r =>
                {
                    var own = r == 0 ? buffer : new float[parameters];
                    return Median(2, 8, () => groups[r].AllReduceSum(own));
                })[0];
                latencySeconds = OnBothRanks(r =>
                {
                    float[][] tiny = [[1f], [1f]];
                    return Median(20, 200, () => groups[r].AllToAll(tiny));
                })[0];
            }
            finally
            {
                foreach (var g in groups) g.Dispose();
            }
        }
        // with 2 ranks each sends 2(N−1)/N = 1 buffer
        var software = 4.0 * parameters / reduceSeconds;

        var copy = new float[parameters];
        var copySeconds = Median(2, 10, () => buffer.AsSpan().CopyTo(copy));

        // (b) one worker alone, as Tests/Training/Shards builds it
        var steps = new RunSchedule(spec, data.Split.Train.Length).StepsPerEpoch;
        var ranks = Enumerable.Repeat(0, data.TaskCount).ToArray();
        using var alone = new InProcessGroups().Join("model-cpu", 0, [null], TimeSpan.FromSeconds(10));
        using var trainer = new ShardTrainer(data, spec, new ShardLayout(0, [1], ranks), alone, CPU);
        trainer.TrainSteps(1, EpochPhase.Joint, 0, 2, steps); // warm-up: JIT, allocator
        const int timed = 8;
        var clock = Stopwatch.StartNew();
        trainer.TrainSteps(1, EpochPhase.Joint, 2, timed, steps);
        var perRow = clock.Elapsed.TotalSeconds / (timed * spec.Optimizer.BatchSize);
        return new Measured(software, latencySeconds, 4.0 * parameters / copySeconds, perRow, get_num_threads());
    }

    private static T[] OnBothRanks<T>(Func<int, T> body)
    {
        var ranks = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(() => body(r), TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(ranks);
        return ranks.Select(t => t.Result).ToArray();
    }

    private static double Median(int warmup, int calls, Action call)
    {
        for (var i = 0; i < warmup; i++) call();
        var seconds = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            call();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        Array.Sort(seconds);
        return seconds[calls / 2];
    }

    private static string Key(string name) => new(name.Split('.')[0].Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray());

    private static T[] ParseList<T>(string text, string option, Func<string, IFormatProvider, T> parse)
    {
        try
        {
            return text.Split(',', StringSplitOptions.TrimEntries).Select(s => parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{option}: '{text}' is not a comma-separated list of numbers");
        }
    }
}
