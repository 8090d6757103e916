using System.Diagnostics;
using System.Runtime.Serialization;
using Akka.Actor;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Transport;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Serialization;

/// <summary>
/// Hostile bytes: valid frames of every protocol message, mutated (bits flipped, bytes inserted, deleted, cut,
/// forged length headers, another type's manifest) and plain random frames, with a fixed seed. Each case must
/// decode or fail with a <see cref="SerializationException"/>, quickly, without allocating more than a small
/// multiple of its size. Random chunk sequences must never break <see cref="ChunkAssembler"/> or its bounds.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Seed = 20_240_611;
    private static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(2);
    private static readonly byte[] LengthHeaders = [0xdc, 0xdd, 0xde, 0xdf, 0xc5, 0xc6, 0xda, 0xdb, 0xc7, 0xc8, 0xc9];

    private readonly ActorSystem _system = ActorSystem.Create("fuzz-tests");
    private MtnnMessageSerializer Serializer => new((ExtendedActorSystem)_system);

    public void Dispose() => _system.Dispose();

    /// <summary>Allocation allowed per case: the frame's bytes a few times over (the decoded copy, one array of references per
    /// collection header, which MessagePack caps at the bytes that remain) plus a fixed amount for an exception and its message.</summary>
    private static long AllocationBound(int frameBytes) => 32L * frameBytes + (256 << 10);

    [Fact]
    public void Mutated_and_random_frames_decode_or_fail_with_a_serialization_exception()
    {
        var serializer = Serializer;
        var frames = MtnnMessageSerializerTests.Samples().Select(s => (IMtnnMessage)s[0])
            .Select(m => (Manifest: serializer.Manifest(m), Bytes: serializer.ToBinary(m))).ToArray();
        var manifests = frames.Select(f => f.Manifest).ToArray();
        foreach (var (manifest, bytes) in frames) serializer.FromBinary(bytes, manifest); // warm up: JIT and type loading are not the frame's doing

        var random = new Random(Seed);
        var rejectedBefore = MtnnMessageSerializer.RejectedMessages;
        int decoded = 0, refused = 0;
        var worst = TimeSpan.Zero;
        for (var i = 0; i < 6000; i++)
        {
            var (manifest, original) = frames[random.Next(frames.Length)];
            var (caseManifest, bytes, how) = Mutate(random, manifest, original, manifests);
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            try
            {
                serializer.FromBinary(bytes, caseManifest);
                decoded++;
            }
            catch (SerializationException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({how} of {manifest} as {caseManifest}, {bytes.Length} bytes): {e.GetType().Name}: {e.Message}");
            }
            var elapsed = clock.Elapsed;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            worst = elapsed > worst ? elapsed : worst;
            Assert.True(elapsed < CaseLimit, $"case {i} ({how} of {manifest}) took {elapsed}");
            Assert.True(allocated <= AllocationBound(bytes.Length), $"case {i} ({how} of {manifest}, {bytes.Length} bytes) allocated {allocated} bytes");
        }
        output.WriteLine($"decoded {decoded}, refused {refused}, slowest case {worst.TotalMilliseconds:F1} ms");
        Assert.Equal(refused, MtnnMessageSerializer.RejectedMessages - rejectedBefore);
        Assert.InRange(refused, 1000, 6000); // the mutations do reach the checks
        Assert.InRange(decoded, 100, 6000);  // and some frames survive mutation, so decoding was really exercised
    }

    [Theory]
    [InlineData(0xdd)] // array32
    [InlineData(0xc6)] // bin32
    [InlineData(0xdb)] // str32
    public void A_forged_huge_length_header_is_refused_without_allocating_it(byte header)
    {
        var serializer = Serializer;
        var scores = new EvaluationResult("r", "w", 1, [new TaskMetrics("t", TaskKind.Classification, Split.Valid, 10, 3, 0.8, 0.5, double.NaN, double.NaN, double.NaN)]);
        var frame = serializer.ToBinary(scores);
        // every field from the scores array on is replaced by a header that claims 2^31-1 elements, followed by nothing
        var at = Array.LastIndexOf(frame, (byte)0x91);
        byte[] forged = [.. frame[..at], header, 0x7f, 0xff, 0xff, 0xff];
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<SerializationException>(() => serializer.FromBinary(forged, serializer.Manifest(scores)));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
    }

    [Theory]
    [InlineData(new[] { 3 }, 8, "bytes do not hold")]
    [InlineData(new[] { -1, 2 }, 8, "not a valid")]
    [InlineData(new[] { 1 << 20, 1 << 20 }, 4, "exceeds")]
    [InlineData(new[] { 1, 1, 1, 1, 1 }, 4, "not a valid")]
    public void A_tensor_whose_shape_does_not_match_its_bytes_is_refused(int[] shape, int bytes, string reason)
    {
        var serializer = Serializer;
        var message = new HeadShard("r", "w", [0], new TensorData("g", shape, new byte[bytes]), new TensorData("b", [1], new byte[4]));
        var error = Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message)));
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void A_missing_field_is_refused_at_the_wire_not_later()
    {
        var serializer = Serializer;
        var message = new Evaluate("r", 1, null!);
        var error = Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message)));
        Assert.Contains("Evaluate.Splits", error.Message);
        var undefined = new Evaluate("r", 1, [Split.Valid, (Split)7]);
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(undefined), serializer.Manifest(undefined)));
        var optional = new StartRun("r", MtnnMessageSerializerTests.SampleSpec() with { Dataset = new DatasetSpec(["/d.csv"], "smiles", null, null, null) }, 0, [1], [0], [""]);
        Assert.IsType<StartRun>(serializer.FromBinary(serializer.ToBinary(optional), serializer.Manifest(optional))); // Tasks is optional
    }

    [Fact]
    public void Random_chunk_sequences_never_break_the_assembler_or_its_bounds()
    {
        const long maxMessage = 2_000_000, maxInFlight = 6_000_000;
        var serializer = Serializer;
        var senders = Enumerable.Range(0, 3).Select(i => _system.ActorOf(Props.Empty, $"sender-{i}")).ToArray();
        var message = new HeadShard("run-1", "w", [0], new TensorData("g", [75_000], RandomBytes(new Random(1), 300_000)), new TensorData("b", [1], new byte[4]));
        var bytes = serializer.ToBinary(message);
        var valid = Chunks(serializer, message, bytes, transfer: 77);
        var assembler = new ChunkAssembler((ExtendedActorSystem)_system, maxMessage, maxInFlight);
        var random = new Random(Seed);
        IMtnnMessage? whole = null;
        var next = 0;
        for (var i = 0; i < 4000; i++)
        {
            // the valid transfer goes through, one chunk in every eight cases, among hostile ones on the same and other transfers
            var (chunk, sender) = i % 8 == 0 && next < valid.Count
                ? (valid[next++], senders[0])
                : (HostileChunk(random, valid, serializer.Manifest(message)), senders[random.Next(senders.Length)]);
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            var result = assembler.Add(chunk, sender, "run-1");
            Assert.True(clock.Elapsed < CaseLimit, $"chunk {i} took {clock.Elapsed}");
            Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore, 0, 3 * maxMessage + (256 << 10));
            Assert.InRange(assembler.BytesInFlight, 0, maxInFlight);
            if (chunk.TransferId == 77 && sender.Equals(senders[0]) && result is not null) whole = result;
        }
        output.WriteLine($"dropped {assembler.Dropped} of 4000 chunks; {assembler.BytesInFlight} bytes reserved at the end");
        Assert.Equal(valid.Count, next);
        var gradient = Assert.IsType<HeadShard>(whole);
        Assert.Equal(message.Weight.Bytes, gradient.Weight.Bytes);
        Assert.True(assembler.Dropped > 1000);
    }

    private static (string Manifest, byte[] Bytes, string How) Mutate(Random random, string manifest, byte[] original, string[] manifests)
    {
        var bytes = original.ToArray();
        switch (random.Next(9))
        {
            case 0:
                for (var n = random.Next(1, 5); n > 0 && bytes.Length > 0; n--) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return (manifest, bytes, "bit flips");
            case 1:
                for (var n = random.Next(1, 4); n > 0 && bytes.Length > 0; n--) bytes[random.Next(bytes.Length)] = LengthHeaders[random.Next(LengthHeaders.Length)];
                return (manifest, bytes, "header bytes");
            case 2:
                var at = random.Next(bytes.Length + 1);
                return (manifest, [.. bytes[..at], .. RandomBytes(random, random.Next(1, 17)), .. bytes[at..]], "insertion");
            case 3:
                var from = random.Next(bytes.Length);
                return (manifest, [.. bytes[..from], .. bytes[Math.Min(bytes.Length, from + random.Next(1, 9))..]], "deletion");
            case 4:
                return (manifest, bytes[..random.Next(bytes.Length)], "truncation");
            case 5:
                return (manifest, RandomBytes(random, random.Next(0, 513)), "random bytes");
            case 6:
                return (manifests[random.Next(manifests.Length)], bytes, "another type's manifest");
            case 7:
                string[] foreign = [manifest.Replace($".{ProtocolRegistry.ProtocolVersion}", $".{ProtocolRegistry.ProtocolVersion - 1}"), "", "x", new string('a', 5000), "System.IO.FileInfo, System.IO"];
                return (foreign[random.Next(foreign.Length)], bytes, "unknown manifest");
            default:
                var p = random.Next(bytes.Length);
                byte[] forged = [LengthHeaders[random.Next(LengthHeaders.Length)], .. RandomBytes(random, 4)];
                forged[1] |= 0x40; // a length of a billion or more
                return (manifest, [.. bytes[..p], .. forged, .. bytes[Math.Min(bytes.Length, p + 5)..]], "forged length");
        }
    }

    private static MessageChunk HostileChunk(Random random, List<MessageChunk> valid, string manifest)
    {
        var c = valid[random.Next(valid.Count)];
        var transfer = random.Next(3) == 0 ? 77 : random.Next(100, 140);
        return random.Next(10) switch
        {
            0 => c with { TransferId = transfer, Index = random.Next(-5, 50) },
            1 => c with { TransferId = transfer, Count = random.Next(3) == 0 ? int.MaxValue : random.Next(-1, 40) },
            2 => c with { TransferId = transfer, TotalBytes = random.Next(3) == 0 ? int.MaxValue : random.Next(-10, 3_000_000) },
            3 => c with { TransferId = transfer, Checksum = RandomBytes(random, random.Next(0, 40)) },
            4 => c with { TransferId = transfer, Bytes = RandomBytes(random, random.Next(0, 70_000)) },
            5 => c with { TransferId = transfer, Manifest = random.Next(2) == 0 ? "tgrad.3" : manifest },
            6 => c with { TransferId = transfer, RunId = "run-2" },
            7 => new MessageChunk("run-1", transfer, manifest, 0, 1, 64, RandomBytes(random, 32), RandomBytes(random, 64)),
            8 => ForgedComplete(random, transfer, manifest),
            _ => c with { TransferId = transfer },
        };
    }

    /// <summary>A one-chunk transfer whose checksum is right but whose content is garbage: it reaches the decoder.</summary>
    private static MessageChunk ForgedComplete(Random random, long transfer, string manifest)
    {
        var garbage = RandomBytes(random, random.Next(1, 2000));
        return new MessageChunk("run-1", transfer, manifest, 0, 1, garbage.Length, TransferChecksum.Of(garbage), garbage);
    }

    private static List<MessageChunk> Chunks(MtnnMessageSerializer serializer, IMtnnMessage message, byte[] bytes, long transfer)
    {
        var hash = TransferChecksum.Of(bytes);
        var count = (bytes.Length + ChunkedDelivery.ChunkBytes - 1) / ChunkedDelivery.ChunkBytes;
        return Enumerable.Range(0, count).Select(i => new MessageChunk("run-1", transfer, serializer.Manifest(message), i, count, bytes.Length, hash,
            bytes.AsSpan(i * ChunkedDelivery.ChunkBytes, Math.Min(ChunkedDelivery.ChunkBytes, bytes.Length - i * ChunkedDelivery.ChunkBytes)).ToArray())).ToList();
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
