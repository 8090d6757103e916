using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Checkpoints;

/// <summary>Checkpoint tensors in the safetensors layout: exact round trips, order kept, damage named.</summary>
public sealed class TensorFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"mtnn-tensorfile-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static TensorData Floats(string name, int[] shape, float offset)
    {
        var values = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(i => offset + i * 0.25f).ToArray();
        return new TensorData(name, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    [Fact]
    public void Tensors_come_back_in_order_with_their_names_shapes_and_bytes_even_when_names_repeat()
    {
        TensorData[] tensors = [Floats("trunk.0.weight", [3, 2], 1), Floats("trunk.0.bias", [3], -1), Floats("trunk.0.weight", [3, 2], 7), Floats("empty", [0], 0)];
        var back = TensorFile.Deserialize(TensorFile.Serialize(tensors), "t");
        Assert.Equal(tensors.Select(t => (t.Name, string.Join(',', t.Shape))), back.Select(t => (t.Name, string.Join(',', t.Shape))));
        Assert.Equal(tensors.Select(t => t.Bytes), back.Select(t => t.Bytes));
    }

    [Fact]
    public void The_file_is_the_safetensors_layout()
    {
        var file = TensorFile.Serialize([Floats("w", [2, 2], 0), Floats("b", [2], 1)]);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, headerLength % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, headerLength).TrimEnd(' '));
        var w = header.RootElement.GetProperty("0000/w");
        Assert.Equal("F32", w.GetProperty("dtype").GetString());
        Assert.Equal([2, 2], w.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal([0L, 16L], w.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal([16L, 24L], header.RootElement.GetProperty("0001/b").GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(8 + headerLength + 24, file.Length);
    }

    [Fact]
    public void A_damaged_file_is_refused_naming_it()
    {
        var file = TensorFile.Serialize([Floats("w", [2, 2], 0)]);
        Assert.Contains("heads.safetensors", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file[..^4], "heads.safetensors")).Message);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(file[..3], "x")).Message);
        var huge = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(huge, 1UL << 40);
        Assert.Contains("header of", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(huge, "x")).Message);
        var garbled = (byte[])file.Clone();
        garbled[9] = (byte)'#';
        Assert.Contains("unreadable tensor header", Assert.Throws<InvalidDataException>(() => TensorFile.Deserialize(garbled, "x")).Message);
    }

    [Fact]
    public void A_checkpoint_of_an_older_format_is_refused_with_its_format_named()
    {
        var spec = new RunSpec(new DatasetSpec(["/d.csv"], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
            new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 32, false), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);
        var model = new CheckpointModel(1, "run-old", spec, [new("a", TaskKind.Classification, 0, 1)], 64, "aaaa", 1, DateTimeOffset.UtcNow);
        ChecksummedDirectory.Write(_directory, new Dictionary<string, byte[]>
        {
            ["model.json"] = JsonSerializer.SerializeToUtf8Bytes(model, Checkpoint.Json),
            ["weights.msgpack"] = [0x90],
        });
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Read(_directory));
        Assert.Contains("checkpoint format 1, this build reads 2", error.Message);
    }
}
