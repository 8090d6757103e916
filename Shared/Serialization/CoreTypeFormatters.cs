using System.Buffers;
using System.Text.Json;
using MessagePack;
using MessagePack.Formatters;
using MtnnCluster.Checkpoints;
using MtnnCluster.Data;
using MtnnCluster.Evaluation;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Serialization;

/// <summary>
/// The wire form of the core types that messages carry. The core knows nothing of MessagePack; these formatters
/// are the edge where its records become bytes. Each is a fixed-length array, read back field by field.
/// </summary>
public static class CoreTypeFormatters
{
    public static readonly IMessagePackFormatter[] All =
        [new TensorDataFormatter(), new HeadStateFormatter(), new TrunkStateFormatter(), new TaskMetricsFormatter(), new RunSpecFormatter()];

    private static void ReadHeader(ref MessagePackReader reader, int fields, string type)
    {
        var count = reader.ReadArrayHeader();
        if (count != fields) throw new MessagePackSerializationException($"{type}: {count} fields, {fields} expected");
    }

    /// <summary>
    /// Name, shape and little-endian float32 bytes. The bytes are read into an array from <see cref="FreshArrays"/>
    /// (no zeroing, pages faulted in at once); a message received from another node (<see cref="ReceivingOptions"/>)
    /// borrows the array from its <see cref="Transport.TensorArrayPool"/> instead, for its consumer to return.
    /// </summary>
    public sealed class TensorDataFormatter : IMessagePackFormatter<TensorData?>
    {
        public void Serialize(ref MessagePackWriter writer, TensorData? value, MessagePackSerializerOptions options)
        {
            if (value is null) { writer.WriteNil(); return; }
            writer.WriteArrayHeader(3);
            writer.Write(value.Name);
            writer.WriteArrayHeader(value.Shape.Length);
            foreach (var d in value.Shape) writer.Write(d);
            writer.Write(value.Bytes);
        }

        public TensorData? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil()) return null;
            ReadHeader(ref reader, 3, nameof(TensorData));
            var name = reader.ReadString() ?? throw new MessagePackSerializationException("tensor without a name");
            options.Security.DepthStep(ref reader);
            var rank = reader.ReadArrayHeader();
            if (rank > ProtocolLimits.MaxTensorRank) // refused before allocating its dimensions
                throw new MessagePackSerializationException($"tensor '{name}': a shape of rank {rank} is not a valid float32 tensor shape");
            var shape = new int[rank];
            for (var i = 0; i < rank; i++) shape[i] = reader.ReadInt32();
            reader.Depth--;
            if (reader.ReadBytes() is not { } source) throw new MessagePackSerializationException($"tensor '{name}' without bytes");
            var length = checked((int)source.Length);
            var bytes = options is ReceivingOptions receiving ? receiving.TensorArrays.Rent(length) : FreshArrays.ForWriting(length);
            source.CopyTo(bytes);
            return new TensorData(name, shape, bytes);
        }
    }

    public sealed class HeadStateFormatter : IMessagePackFormatter<HeadState?>
    {
        public void Serialize(ref MessagePackWriter writer, HeadState? value, MessagePackSerializerOptions options)
        {
            if (value is null) { writer.WriteNil(); return; }
            var tensor = options.Resolver.GetFormatterWithVerify<TensorData?>();
            writer.WriteArrayHeader(6);
            options.Resolver.GetFormatterWithVerify<int[]>().Serialize(ref writer, value.TaskIndices, options);
            tensor.Serialize(ref writer, value.Weight, options);
            tensor.Serialize(ref writer, value.Bias, options);
            options.Resolver.GetFormatterWithVerify<TensorData[]?>().Serialize(ref writer, value.Moments, options);
            writer.Write(value.OptimizerSteps);
            options.Resolver.GetFormatterWithVerify<long[]?>().Serialize(ref writer, value.HeadSteps, options);
        }

        public HeadState? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil()) return null;
            ReadHeader(ref reader, 6, nameof(HeadState));
            options.Security.DepthStep(ref reader);
            var tensor = options.Resolver.GetFormatterWithVerify<TensorData?>();
            var tasks = options.Resolver.GetFormatterWithVerify<int[]>().Deserialize(ref reader, options);
            var weight = tensor.Deserialize(ref reader, options) ?? throw new MessagePackSerializationException("heads without a weight");
            var bias = tensor.Deserialize(ref reader, options) ?? throw new MessagePackSerializationException("heads without a bias");
            var moments = options.Resolver.GetFormatterWithVerify<TensorData[]?>().Deserialize(ref reader, options);
            var steps = reader.ReadInt64();
            var headSteps = options.Resolver.GetFormatterWithVerify<long[]?>().Deserialize(ref reader, options);
            reader.Depth--;
            if (headSteps is not null && headSteps.Length != tasks.Length)
                throw new MessagePackSerializationException($"heads of {tasks.Length} tasks with step counts for {headSteps.Length}");
            return new HeadState(tasks, weight, bias, moments, steps, headSteps);
        }
    }

    public sealed class TrunkStateFormatter : IMessagePackFormatter<TrunkState?>
    {
        public void Serialize(ref MessagePackWriter writer, TrunkState? value, MessagePackSerializerOptions options)
        {
            if (value is null) { writer.WriteNil(); return; }
            var tensors = options.Resolver.GetFormatterWithVerify<TensorData[]?>();
            writer.WriteArrayHeader(6);
            tensors.Serialize(ref writer, value.Parameters, options);
            tensors.Serialize(ref writer, value.Moments, options);
            writer.Write(value.OptimizerSteps);
            writer.Write(value.Version);
            tensors.Serialize(ref writer, value.Best, options);
            if (value.BestVersion is { } best) writer.Write(best);
            else writer.WriteNil();
        }

        public TrunkState? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil()) return null;
            ReadHeader(ref reader, 6, nameof(TrunkState));
            options.Security.DepthStep(ref reader);
            var tensors = options.Resolver.GetFormatterWithVerify<TensorData[]?>();
            var parameters = tensors.Deserialize(ref reader, options) ?? throw new MessagePackSerializationException("trunk state without parameters");
            var moments = tensors.Deserialize(ref reader, options) ?? throw new MessagePackSerializationException("trunk state without optimizer moments");
            var steps = reader.ReadInt64();
            var version = reader.ReadInt64();
            var best = tensors.Deserialize(ref reader, options);
            long? bestVersion = reader.TryReadNil() ? null : reader.ReadInt64();
            reader.Depth--;
            if (moments.Length != 2 * parameters.Length)
                throw new MessagePackSerializationException($"trunk state: {moments.Length} optimizer moments for {parameters.Length} parameters");
            return new TrunkState(parameters, moments, steps, version, best, bestVersion);
        }
    }

    public sealed class TaskMetricsFormatter : IMessagePackFormatter<TaskMetrics?>
    {
        public void Serialize(ref MessagePackWriter writer, TaskMetrics? value, MessagePackSerializerOptions options)
        {
            if (value is null) { writer.WriteNil(); return; }
            writer.WriteArrayHeader(10);
            writer.Write(value.Task);
            writer.Write((int)value.Kind);
            writer.Write((int)value.Split);
            writer.Write(value.Labelled);
            writer.Write(value.Positives);
            foreach (var v in new[] { value.RocAuc, value.PrcAuc, value.Rmse, value.Mae, value.R2 }) writer.Write(v);
        }

        public TaskMetrics? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil()) return null;
            ReadHeader(ref reader, 10, nameof(TaskMetrics));
            var task = reader.ReadString() ?? throw new MessagePackSerializationException("metrics without a task");
            var kind = (TaskKind)reader.ReadInt32();
            var split = (Split)reader.ReadInt32();
            if (!Enum.IsDefined(kind) || !Enum.IsDefined(split)) throw new MessagePackSerializationException($"metrics of '{task}': unknown kind or split");
            return new TaskMetrics(task, kind, split, reader.ReadInt32(), reader.ReadInt32(),
                reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble());
        }
    }

    /// <summary>The run spec travels once per deployment as the JSON a checkpoint's state.json holds, so both say the same.</summary>
    public sealed class RunSpecFormatter : IMessagePackFormatter<RunSpec?>
    {
        public void Serialize(ref MessagePackWriter writer, RunSpec? value, MessagePackSerializerOptions options)
        {
            if (value is null) writer.WriteNil();
            else writer.Write(JsonSerializer.SerializeToUtf8Bytes(value, Checkpoint.Json));
        }

        public RunSpec? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.TryReadNil()) return null;
            var bytes = reader.ReadBytes() ?? throw new MessagePackSerializationException("run spec without bytes");
            try
            {
                return JsonSerializer.Deserialize<RunSpec>(bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray(), Checkpoint.Json)
                       ?? throw new MessagePackSerializationException("empty run spec");
            }
            catch (JsonException e)
            {
                throw new MessagePackSerializationException($"malformed run spec: {e.Message}", e);
            }
        }
    }
}
