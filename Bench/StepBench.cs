using System.CommandLine;
using System.Diagnostics;
using MtnnCluster.Model;
using MtnnCluster.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh step</c>: where one training step's time goes on this CPU, part by part, for a whole batch and for
/// half of one (what each of two data-parallel workers computes): the trunk's forward and backward (with the dense
/// first layer, and with the sparse one a training step uses on host-stored fingerprints), the trunk's
/// AdamW update, and the copies to and from a reduction buffer. Medians over steps, after warm-up.
/// </summary>
public static class StepBench
{
    public static Command Create()
    {
        var layers = new Option<string>("--layers") { Description = "trunk hidden layers", DefaultValueFactory = _ => "2000,100" };
        var bits = new Option<int>("--bits") { Description = "feature width (ECFP bits)", DefaultValueFactory = _ => 2048 };
        var batchSize = new Option<int>("--batch-size") { Description = "rows per step", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "steps timed per part", DefaultValueFactory = _ => 30 };
        var tasks = new Option<int>("--tasks") { Description = "heads of the head step's part", DefaultValueFactory = _ => 617 };
        var density = new Option<double>("--label-density") { Description = "fraction of the head step's cells labelled (ToxCast: about 0.3)", DefaultValueFactory = _ => 0.3 };
        var threads = new Option<int>("--threads") { Description = "compute threads (0: libtorch's default)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "end with one line holding a JSON object of the results" };
        var command = new Command("step", "the parts of one training step on the CPU: forward+backward, optimizer, buffer copies, a head step") { layers, bits, batchSize, steps, tasks, density, threads, json };
        command.SetAction(parse =>
        {
            var sizes = parse.GetValue(layers)!.Split(',').Select(int.Parse).ToArray();
            var (width, rows, count) = (parse.GetValue(bits), parse.GetValue(batchSize), parse.GetValue(steps));
            if (parse.GetValue(threads) > 0) set_num_threads(parse.GetValue(threads));
            var report = new BenchReport("step");
            report.Note(BenchReport.Machine);
            report.Note($"threads {get_num_threads()}, layers {width},{string.Join(',', sizes)}, batch {rows}");
            var device = CPU;
            using var trunk = new FingerprintTrunk(width, sizes, 0, device);
            using var optimizer = new AdamW(trunk.Parameters, 1e-3, 1e-4);
            using var dropout = new Generator(7, device);
            var total = trunk.Parameters.Sum(p => p.numel());
            var buffer = new float[total];
            foreach (var (name, batchRows) in new[] { ("batch", rows), ("half_batch", rows / 2) })
            {
                using var input = Fingerprints(batchRows, width, 1);
                using var features = DeviceFeatures.Create(SparseOf(input), Enumerable.Range(0, batchRows).ToArray(), width, device);
                var batchPositions = Enumerable.Range(0, batchRows).Select(i => (long)i).ToArray();
                report.Add($"{name}_forward_backward_ms", Median(count, () =>
                {
                    using var scope = NewDisposeScope();
                    foreach (var p in trunk.Parameters) p.grad = null;
                    var output = trunk.Forward(input, Dropout.Masks(0.25, dropout, device, batchRows, sizes));
                    output.sum().backward();
                }));
                report.Add($"{name}_nonzero_rows_ms", Median(count, () => { using var scope = NewDisposeScope(); features.NonZeroRows(batchPositions); }));
                // as a training step runs it on host-stored fingerprints: set features read from the packed rows
                report.Add($"{name}_sparse_forward_backward_ms", Median(count, () =>
                {
                    using var scope = NewDisposeScope();
                    foreach (var p in trunk.Parameters) p.grad = null;
                    var output = trunk.Forward(features.NonZeroRows(batchPositions)!, Dropout.Masks(0.25, dropout, device, batchRows, sizes));
                    output.sum().backward();
                }));
            }
            // an evaluation chunk (Inference.ChunkRows rows, no_grad): its set features read from the packed rows, the
            // first layer by libtorch's embedding bag (then relu), and the whole embedding
            using (no_grad())
            {
                var chunk = Inference.ChunkRows;
                using var input = Fingerprints(chunk, width, 2);
                using var features = DeviceFeatures.Create(SparseOf(input), Enumerable.Range(0, chunk).ToArray(), width, device);
                using var layer = new SparseFirstLayer(trunk.Parameters[0], trunk.Parameters[1]);
                var rowsOf = features.NonZeroSlice(0, chunk)!;
                report.Add("eval_chunk_nonzero_rows_ms", Median(count, () => { using var scope = NewDisposeScope(); features.NonZeroSlice(0, chunk); }));
                report.Add("eval_chunk_first_layer_bag_ms", Median(count, () => { using var scope = NewDisposeScope(); layer.Apply(rowsOf).relu_(); }));
                report.Add("eval_chunk_embed_ms", Median(count, () => { using var scope = NewDisposeScope(); trunk.Embed(features); }));
            }
            var gradients = trunk.Parameters.Select(p => p.grad!).ToArray();
            report.Add("adamw_step_ms", Median(count, () => optimizer.Step(gradients)));
            report.Add("copy_to_and_from_buffer_ms", Median(count, () =>
            {
                var offset = 0;
                foreach (var g in gradients) { TensorCodec.CopyTo(g, buffer.AsSpan(offset, (int)g.numel())); offset += (int)g.numel(); }
                offset = 0;
                foreach (var g in gradients) { TensorCodec.CopyFrom(buffer.AsSpan(offset, (int)g.numel()), g); offset += (int)g.numel(); }
            }));
            report.Add("trunk_floats", total);

            // a joint step's head part as a worker runs it: the batch's labelled cells, then (few cells, host memory)
            // one pass that sums each labelled head's gradient and steps it in place, or else the slice of their
            // heads, the loss, backward, and the lazy head AdamW (ToxCast-like: --tasks heads, 30% of cells labelled)
            var (taskCount, labelDensity) = (parse.GetValue(tasks), parse.GetValue(density));
            using var heads = new HeadBlock(sizes[^1], Enumerable.Range(0, taskCount).ToArray(), 0, device);
            using var headOptimizer = new HeadAdamW(heads, 1e-3, 1e-4);
            var random = new Random(5);
            var dense = Enumerable.Range(0, rows * taskCount).Select(_ => random.NextDouble() < labelDensity ? (random.NextDouble() < 0.1 ? 1f : 0f) : float.NaN).ToArray();
            using var labels = DeviceLabels.FromDense(dense, taskCount, new bool[taskCount], Enumerable.Repeat(1f, taskCount).ToArray(), device);
            var positions = Enumerable.Range(0, rows).Select(i => (long)i).ToArray();
            using var embeddings = rand(rows, sizes[^1]);
            report.Add("head_step_ms", Median(count, () =>
            {
                using var scope = NewDisposeScope();
                var cells = labels.Batch(positions, tensor(positions));
                if (HeadLoss.TryStepOnHost(embeddings, heads, cells, 1.0 / cells.Count, headOptimizer, hiddenGradient: true) is not null) return;
                var slice = heads.Slice(cells, trainable: true);
                HeadLoss.Compute(embeddings.detach().requires_grad_(true), slice, cells, 1.0 / cells.Count, headGradients: true);
                headOptimizer.Step(slice);
            }));
            // the host pass on a slice of the heads, then the lazy AdamW over the slice (the path before the fused step)
            report.Add("head_step_sliced_ms", Median(count, () =>
            {
                using var scope = NewDisposeScope();
                var cells = labels.Batch(positions, tensor(positions));
                var slice = heads.Slice(cells, trainable: true);
                HeadLoss.Compute(embeddings.detach().requires_grad_(true), slice, cells, 1.0 / cells.Count, headGradients: true);
                headOptimizer.Step(slice);
            }));
            // the same step with logits, loss and gradients as tensor ops and autograd, as on a GPU
            report.Add("head_step_autograd_ms", Median(count, () =>
            {
                using var scope = NewDisposeScope();
                var cells = labels.Batch(positions, tensor(positions));
                var slice = heads.Slice(cells, trainable: true);
                MaskedLoss.PerCell(HeadBlock.Logits(embeddings.detach().requires_grad_(true), slice), cells).sum().mul(1.0 / cells.Count).backward();
                headOptimizer.Step(slice);
            }));
            report.Finish(parse.GetValue(json));
            return 0;
        });
        return command;
    }

    /// <summary>The median milliseconds of <paramref name="count"/> calls of <paramref name="work"/>, after three warm-up calls.</summary>
    internal static double Median(int count, Action work)
    {
        for (var i = 0; i < 3; i++) work();
        var times = new double[count];
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            work();
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[count / 2];
    }

    private static SparseFeatures[] SparseOf(Tensor dense)
    {
        var (rows, width) = ((int)dense.shape[0], (int)dense.shape[1]);
        var values = dense.data<float>().ToArray();
        return Enumerable.Range(0, rows).Select(r =>
        {
            var set = Enumerable.Range(0, width).Where(k => values[(long)r * width + k] != 0).ToArray();
            return new SparseFeatures(set, set.Select(_ => 1f).ToArray());
        }).ToArray();
    }

    /// <summary>Rows of 40 set bits among <paramref name="bits"/>, like ECFP4 fingerprints of drug-sized molecules.</summary>
    private static Tensor Fingerprints(int rows, int bits, int seed)
    {
        var random = new Random(seed);
        var values = new float[(long)rows * bits];
        for (var r = 0; r < rows; r++)
            for (var k = 0; k < Math.Min(40, bits); k++) values[(long)r * bits + random.Next(bits)] = 1;
        return tensor(values, [rows, bits]);
    }
}
