using System.Runtime.Serialization;
using Akka.Actor;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Serialization;

public sealed class MtnnMessageSerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serializer-tests");
    private readonly MtnnMessageSerializer _serializer;

    public MtnnMessageSerializerTests() => _serializer = new MtnnMessageSerializer((ExtendedActorSystem)_system);

    public void Dispose() => _system.Dispose();

    internal static RunSpec SampleSpec() => new(
        new DatasetSpec(["/data/x.csv"], "smiles", ["a", "b"], null, ["b"]),
        new FeaturizerSpec(2, 2048, false),
        new SplitSpec(SplitKind.Random, 1, 0.8, 0.1, 0.1),
        new ModelSpec([64, 16], 0.25),
        new OptimizerSpec(1e-3, 1e-4, 32, true),
        new ScheduleSpec(ScheduleKind.Alternate, 10, 1, 2, 3),
        7);

    private static HeadState SampleHeads() =>
        new([0, 3], new TensorData("heads.weight", [1, 2], new byte[8]), new TensorData("heads.bias", [2], new byte[8]),
            [Tensor(), Tensor(), Tensor(), Tensor()], 17, [17, 4]);

    private static TrunkState SampleTrunk() => new([Tensor()], [Tensor(), Tensor()], 7, 7, [Tensor()], 5);

    private static TensorData Tensor() => new("trunk.0.weight", [2, 3], Enumerable.Range(0, 24).Select(i => (byte)i).ToArray());

    public static IEnumerable<object[]> Samples() => new IMtnnMessage[]
    {
        new RegisterWorker("w1", "cuda:0", 2),
        new RegisterWorker("w1", "cuda:0", 2, "10.0.0.2:40001"),
        new WorkerRegistered("w1"),
        new StartRun("r", SampleSpec(), 0, [1], [0, 0, 0, 0], [""]),
        new StartRun("r~2", SampleSpec(), 1, [1, 2], [0, 1, -1, 1], ["10.0.0.2:40001", "10.0.0.3:40001"], SampleTrunk(), SampleHeads(), SampleHeads() with { Moments = null }, "abc"),
        new WorkerReady("r", "w1", 100, 250),
        new WorkerFailed("r", "w1", "disk"),
        new TrainSteps("r", 2, EpochPhase.Trunk, 5, 3, 10),
        new StepsDone("r", "w1", 2, 5, 1.5, 30, 12, 4096),
        new HeadEpoch("r", 3, 12),
        new HeadEpochDone("r", "w1", 3, 0.5, 9, 4, 100),
        new Evaluate("r", 3, [Split.Valid]),
        new EvaluationResult("r", "w1", 3, [new TaskMetrics("t", TaskKind.Classification, Split.Valid, 10, 3, 0.8, 0.5, double.NaN, double.NaN, double.NaN)]),
        new EvaluationResult("r", "w1", 3, [], SampleHeads(), SampleTrunk()),
        new Evaluate("r", 3, [Split.Valid], Snapshot: true),
        new KeepBest("r", 3),
        new RestoreBest("r"),
        new FetchHeads("r"),
        new HeadShard("r", "w1", [0, 3], Tensor(), new TensorData("heads.bias", [2], new byte[8])),
        new EndRun("r"),
        new EndRun("r", KeepWorker: true),
        new WorkerLeaving("w1"),
        new MessageChunk("r", 12, "tgrad.3", 0, 3, 150000, new byte[16], new byte[100]),
        new BlobOffer("r", 13, "tstep.3", "10.0.0.2", 40123, 17_190_400, new byte[16], new byte[32]),
        new FitHeads("add", SampleSpec(), [Tensor(), Tensor()], [0, 4], "abc"),
        new HeadsFitted("add", "w1", [0, 4], new TensorData("heads.weight", [1, 2], new byte[8]), new TensorData("heads.bias", [2], new byte[8]),
            [new FittedHeadSummary(16, 8, 0.01, 0.42, 0, 1), new FittedHeadSummary(20, 0, 1, 0.9, 5.5, 2.25)]),
    }.Select(m => new object[] { m });

    [Theory]
    [MemberData(nameof(Samples))]
    public void Every_protocol_message_round_trips(IMtnnMessage message)
    {
        var manifest = _serializer.Manifest(message);
        var copy = _serializer.FromBinary(_serializer.ToBinary(message), manifest);
        Assert.IsType(message.GetType(), copy);
        Assert.Equal(Json(message), Json(copy));
    }

    [Fact]
    public void Large_tensors_arrive_byte_for_byte_in_arrays_of_their_exact_length()
    {
        // over FreshArrays.PrefaultBytes and not a whole number of pages, so the prefaulted array has ragged ends
        var bytes = new byte[3 * 1024 * 1024 + 4 * 7];
        new Random(5).NextBytes(bytes);
        var message = new HeadShard("r", "w1", [0], new TensorData("heads.weight", [bytes.Length / 4], bytes), new TensorData("heads.bias", [2], new byte[8]));
        var copy = (HeadShard)_serializer.FromBinary(_serializer.ToBinary(message), _serializer.Manifest(message));
        Assert.Equal(bytes.Length, copy.Weight.Bytes.Length);
        Assert.True(bytes.AsSpan().SequenceEqual(copy.Weight.Bytes));
        Assert.Equal(new byte[8], copy.Bias.Bytes);
    }

    [Fact]
    public void Every_message_type_in_the_protocol_is_registered()
    {
        var declared = typeof(IMtnnMessage).Assembly.GetTypes()
            .Where(t => typeof(IMtnnMessage).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract).ToHashSet();
        Assert.Equal(declared.OrderBy(t => t.Name), ProtocolRegistry.MessageTypes.OrderBy(t => t.Name));
        Assert.Equal(declared.Count, Samples().Select(s => s[0].GetType()).Distinct().Count());
    }

    [Fact]
    public void Unknown_manifest_is_refused_without_reading_type_names()
    {
        var bytes = _serializer.ToBinary(new FetchHeads("r"));
        Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "System.IO.FileInfo, System.IO"));
        Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fetch.999"));
    }

    [Fact]
    public void A_message_of_an_earlier_protocol_version_is_refused()
    {
        // version 2 changed what offers and chunks carry (XxHash128 instead of SHA-256), version 3 the trunk step
        // and the wire form of core types, version 4 the step itself (hybrid parallelism), version 5 a run's end
        // (workers kept for a group's next job), version 6 the run spec (its descriptor set), version 7 the registration's
        // nonce, version 8 the run spec (its trunk and graph features): mixed nodes must not talk
        Assert.Equal(8, ProtocolRegistry.ProtocolVersion);
        var offer = new BlobOffer("r", 13, "tstep.3", "10.0.0.2", 40123, 17_190_400, new byte[16], new byte[32]);
        foreach (var old in new[] { "offer.1", "offer.2", "offer.3", "offer.4", "offer.5", "offer.6", "offer.7" })
            Assert.Contains("version 8", Assert.Throws<SerializationException>(() => _serializer.FromBinary(_serializer.ToBinary(offer), old)).Message);
    }

    [Fact]
    public void A_type_outside_the_protocol_cannot_be_serialized()
    {
        Assert.Throws<ArgumentException>(() => _serializer.Manifest("a string"));
    }

    private static string Json(object o) => System.Text.Json.JsonSerializer.Serialize(o, o.GetType(),
        new System.Text.Json.JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}
