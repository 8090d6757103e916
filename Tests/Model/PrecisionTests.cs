using System.Text.Json;
using Akka.Actor;
using TorchSharp;
using MtnnCluster.Checkpoints;
using MtnnCluster.Coordinator;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Tests.Data;
using MtnnCluster.Tests.Serialization;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

/// <summary>The bf16 trunk (a manual autocast on float32 master weights) and the precision setting of a run.</summary>
public sealed class PrecisionTests
{
    /// <summary>Sparse 0/1 rows, like fingerprints (exact in bfloat16).</summary>
    private static Tensor Fingerprints(int rows, int bits, ulong seed)
    {
        using var generator = new Generator(seed);
        using var draws = rand([rows, bits], ScalarType.Float32, generator: generator);
        using var threshold = 0.85.ToScalar();
        using var set = draws.gt(threshold);
        return set.to(ScalarType.Float32);
    }

    [Fact]
    public void A_bf16_trunk_gives_float32_outputs_within_bfloat16_rounding_of_fp32()
    {
        using var exact = new FingerprintTrunk(256, [64, 16], 3, CPU);
        using var bf16 = new FingerprintTrunk(256, [64, 16], 3, CPU) { ComputeType = Precision.Bf16.TrunkComputeType() };
        using var x = Fingerprints(32, 256, 11);
        using var _ = no_grad();
        using var expected = exact.Forward(x);
        using var actual = bf16.Forward(x);

        Assert.Equal(ScalarType.Float32, actual.dtype); // heads and loss stay float32
        using var difference = expected.sub(actual).abs();
        var worst = difference.max().item<float>();
        var scale = expected.abs().max().item<float>();
        // bfloat16 keeps 8 significant bits (relative rounding 2^-8 ≈ 0.4%); two layers of rounded inputs, weights
        // and sums stay within a few of those relative to the output's size
        Assert.True(worst <= 0.02f * scale, $"largest difference {worst} for outputs up to {scale}");
        Assert.True(worst > 0, "identical outputs: the layers did not run in bfloat16");
        Assert.All(bf16.Parameters, p => Assert.Equal(ScalarType.Float32, p.dtype)); // master weights stay float32
    }

    [Fact]
    public void Bf16_gradients_reach_the_float32_parameters_and_a_few_steps_reduce_the_loss()
    {
        using var trunk = new FingerprintTrunk(128, [32, 8], 5, CPU) { ComputeType = ScalarType.BFloat16 };
        using var heads = new HeadBlock(8, [0, 1, 2], 5, CPU);
        using var x = Fingerprints(64, 128, 13);
        // task t is positive when feature t is set: learnable in a few steps
        using var targets = x.narrow(1, 0, 3).contiguous();
        using var store = DeviceLabels.FromDense(targets.data<float>().ToArray(), 3, new bool[3], [1f, 1f, 1f], CPU);
        var labels = store.All();
        var parameters = trunk.Parameters.Concat(heads.Parameters).ToArray();
        using var optimizer = new AdamW(parameters, learningRate: 1e-2, weightDecay: 0);

        var losses = new List<float>();
        for (var step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            foreach (var p in parameters) p.grad?.zero_();
            var loss = MaskedLoss.Sum(heads.Logits(trunk.Forward(x), labels), labels).div(targets.numel());
            Assert.Equal(ScalarType.Float32, loss.dtype);
            loss.backward();
            losses.Add(loss.item<float>());
            if (step == 0)
                foreach (var (p, i) in trunk.Parameters.Select((p, i) => (p, i)))
                {
                    Assert.NotNull(p.grad);
                    Assert.Equal(ScalarType.Float32, p.grad!.dtype); // the exchange and the optimizer see float32
                    Assert.True(p.grad.abs().sum().item<float>() > 0, $"{FingerprintTrunk.ParameterName(i)} received no gradient");
                }
            optimizer.Step();
        }
        Assert.True(losses[^1] < 0.5f * losses[0], $"loss {losses[0]} → {losses[^1]}");
        Assert.All(trunk.Parameters, p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Theory]
    [InlineData("fp32", Precision.Fp32)]
    [InlineData("TF32", Precision.Tf32)]
    [InlineData(" bf16 ", Precision.Bf16)]
    public void Precision_names_parse(string name, Precision expected) => Assert.Equal(expected, PrecisionMode.Parse(name));

    [Fact]
    public void Tf32_is_refused_on_a_cpu_naming_the_option_and_the_device()
    {
        var error = Assert.Throws<ArgumentException>(() => PrecisionMode.Apply(Precision.Tf32, CPU));
        Assert.Contains("--precision tf32 needs a CUDA device", error.Message);
        Assert.Contains("computes on cpu", error.Message);
        PrecisionMode.Apply(Precision.Fp32, CPU);
        PrecisionMode.Apply(Precision.Bf16, CPU);
        Assert.Contains("--precision must be fp32, tf32 or bf16 (got 'fp16')", Assert.Throws<ArgumentException>(() => PrecisionMode.Parse("fp16")).Message);
        var wire = MtnnMessageSerializerTests.SampleSpec() with { Precision = (Precision)7 };
        Assert.Contains("--precision", Assert.Throws<ArgumentException>(wire.Validate).Message);
    }

    [Fact]
    public async Task A_cpu_worker_refuses_a_tf32_run_and_the_run_fails_naming_the_option()
    {
        // the path of `mtnn coordinator --precision tf32` with `mtnn worker --device cpu`: the worker answers StartRun with WorkerFailed
        using var dir = new ScratchDirectory();
        var csv = dir.WriteText("small.csv", string.Concat(File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(201).Select(l => l + "\n")));
        var spec = new RunSpec(new DatasetSpec([csv], "smiles", ["NR-AR"], null, null), new FeaturizerSpec(2, 64, false),
            new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1), new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 32, false),
            new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0, Precision.Tf32);
        var job = new TrainJob("test-tf32", spec, Path.Combine(dir.Root, "out"), 1);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            EmbeddedRun.RunAsync(job, new EmbeddedOptions(1, "cpu", VerifySerialization: true), new RunCompletion(TextWriter.Null), timeout.Token));
        Assert.Contains("--precision tf32 needs a CUDA device", error.Message);
        Assert.False(timeout.IsCancellationRequested);
    }

    [Fact]
    public void The_precision_travels_to_workers_in_StartRun()
    {
        using var system = ActorSystem.Create("precision-tests");
        var serializer = new MtnnMessageSerializer((ExtendedActorSystem)system);
        foreach (var precision in Enum.GetValues<Precision>())
        {
            var start = new StartRun("r", MtnnMessageSerializerTests.SampleSpec() with { Precision = precision }, 0, [1], [0, 0, 0, 0], [""]);
            var copy = (StartRun)serializer.FromBinary(serializer.ToBinary(start), serializer.Manifest(start));
            Assert.Equal(precision, copy.Spec.Precision);
        }
        Assert.Equal(Precision.Fp32, MtnnMessageSerializerTests.SampleSpec().Precision); // the default
    }

    [Fact]
    public void Checkpoints_record_the_precision_and_older_ones_without_it_read_as_fp32()
    {
        var spec = MtnnMessageSerializerTests.SampleSpec() with { Precision = Precision.Bf16 };
        var json = JsonSerializer.Serialize(spec, Checkpoint.Json);
        Assert.Contains("\"precision\": \"bf16\"", json);
        Assert.Equal(Precision.Bf16, JsonSerializer.Deserialize<RunSpec>(json, Checkpoint.Json)!.Precision);

        using var document = JsonDocument.Parse(json);
        var older = document.RootElement.EnumerateObject().Where(p => p.Name != "precision").ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(Precision.Fp32, JsonSerializer.Deserialize<RunSpec>(JsonSerializer.Serialize(older), Checkpoint.Json)!.Precision);
    }
}
