using System.Text.Json;
using System.Text.Json.Serialization;
using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Checkpoints;

/// <summary>A task as a checkpoint records it, with the scale its regression targets were standardised by.</summary>
public sealed record CheckpointTask(string Name, TaskKind Kind, double Mean, double Std);

/// <summary>The readable part of a checkpoint (model.json).</summary>
public sealed record CheckpointModel(
    int FormatVersion,
    string RunId,
    RunSpec Spec,
    CheckpointTask[] Tasks,
    int FeatureSize,
    string DatasetFingerprint,
    int BestEpoch,
    DateTimeOffset Created);

/// <summary>
/// A trained model on disk: <c>model.json</c> (spec, tasks, featurizer settings), <c>weights.safetensors</c> (trunk and
/// all heads as named tensors) and <c>manifest.json</c> (SHA-256 of each). Written to a temporary directory and
/// renamed into place, so a reader never sees half a checkpoint.
/// </summary>
public sealed record Checkpoint(CheckpointModel Model, TensorData[] Trunk, TensorData HeadWeight, TensorData HeadBias)
{
    public const int CurrentFormat = 2; // 2: weights in a safetensors file (1: the wire encoding)
    private const string ModelFile = "model.json", WeightsFile = "weights.safetensors";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void Write(string directory) => ChecksummedDirectory.Write(directory, new Dictionary<string, byte[]>
    {
        [ModelFile] = JsonSerializer.SerializeToUtf8Bytes(Model, Json),
        [WeightsFile] = TensorFile.Serialize([.. Trunk, HeadWeight, HeadBias]),
    });

    /// <summary>Reads and verifies a checkpoint; a missing file or a checksum mismatch names the file.</summary>
    public static Checkpoint Read(string directory)
    {
        // the format first: an older checkpoint names its weights file differently, and should say so
        var model = JsonSerializer.Deserialize<CheckpointModel>(ChecksummedDirectory.Read(directory, [ModelFile])[ModelFile], Json)
                    ?? throw new InvalidDataException($"{directory}/{ModelFile}: empty");
        if (model.FormatVersion != CurrentFormat)
            throw new InvalidDataException($"{directory}: checkpoint format {model.FormatVersion}, this build reads {CurrentFormat}");
        var files = ChecksummedDirectory.Read(directory, [WeightsFile]);
        var tensors = TensorFile.Deserialize(files[WeightsFile], $"{directory}/{WeightsFile}");
        var trunkTensors = Trunks.TensorCount(model.Spec.Model, model.FeatureSize);
        if (tensors.Length != trunkTensors + 2)
            throw new InvalidDataException($"{directory}/{WeightsFile}: {tensors.Length} tensors, a {model.Spec.Model.Trunk.ToString().ToLowerInvariant()} trunk of {model.Spec.Model.Layers.Length} layers and heads have {trunkTensors + 2}");
        return new Checkpoint(model, tensors[..^2], tensors[^2], tensors[^1]);
    }

    /// <summary>The trained network, ready for inference on <paramref name="device"/>.</summary>
    public (ITrunk Trunk, HeadBlock Heads) Instantiate(Device device)
    {
        var trunk = Trunks.Create(Model.Spec, Model.FeatureSize, device);
        trunk.Load(Trunk);
        var heads = new HeadBlock(Enumerable.Range(0, Model.Tasks.Length).ToArray(),
            TensorCodec.Decode(HeadWeight, device), TensorCodec.Decode(HeadBias, device));
        return (trunk, heads);
    }
}

/// <summary>The heads of some tasks from one source (a worker): weight [hidden × k], bias [k], columns in the order of <see cref="TaskIndices"/>.</summary>
public sealed record HeadColumns(string Source, int[] TaskIndices, TensorData Weight, TensorData Bias);

/// <summary>Puts the workers' head shards back into one [hidden × all tasks] matrix, columns in task order.</summary>
public static class HeadAssembly
{
    public static (TensorData Weight, TensorData Bias) Merge(IReadOnlyList<HeadColumns> shards, int taskCount)
    {
        var hidden = shards.Count > 0 ? shards[0].Weight.Shape[0] : 0;
        var weight = new float[hidden * taskCount];
        var bias = new float[taskCount];
        var seen = new bool[taskCount];
        foreach (var shard in shards)
        {
            var k = shard.TaskIndices.Length;
            if (shard.Weight.Shape.Length != 2 || shard.Weight.Shape[0] != hidden || shard.Weight.Shape[1] != k || shard.Bias.ElementCount != k)
                throw new InvalidDataException($"head shard of {shard.Source}: shape [{string.Join(',', shard.Weight.Shape)}] does not fit {k} tasks of width {hidden}");
            var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(shard.Weight.Bytes);
            var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(shard.Bias.Bytes);
            for (var j = 0; j < k; j++)
            {
                var task = shard.TaskIndices[j];
                if (task < 0 || task >= taskCount) throw new InvalidDataException($"head shard of {shard.Source}: task {task} is not one of the {taskCount} tasks");
                if (seen[task]) throw new InvalidDataException($"task {task} arrived from two workers");
                seen[task] = true;
                bias[task] = b[j];
                for (var h = 0; h < hidden; h++) weight[h * taskCount + task] = w[h * k + j];
            }
        }
        var missing = Enumerable.Range(0, taskCount).Where(t => !seen[t]).ToArray();
        if (missing.Length > 0) throw new InvalidDataException($"no worker returned the heads of tasks {string.Join(',', missing)}");
        return (new TensorData("heads.weight", [hidden, taskCount], ToBytes(weight)), new TensorData("heads.bias", [taskCount], ToBytes(bias)));
    }

    private static byte[] ToBytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
