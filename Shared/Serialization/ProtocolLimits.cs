using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Serialization;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Training;

namespace MtnnCluster.Serialization;

/// <summary>
/// What a well-formed protocol message may hold, checked on every message that arrives before anything uses it.
/// MessagePack's untrusted mode already refuses a collection header longer than the bytes that remain (so a forged
/// length cannot make it allocate more than a small multiple of the message); these limits add the sizes and the
/// consistency that the protocol itself promises.
/// </summary>
public static class ProtocolLimits
{
    /// <summary>
    /// Largest message, whole or reassembled from chunks: the largest trunk the core accepts with its two optimizer
    /// moments and its best copy (a <see cref="StartRun"/> or a snapshot), and the rest of the message.
    /// </summary>
    public const int MaxMessageBytes = int.MaxValue - (1 << 20);

    /// <summary>Tensors on the wire are matrices and vectors.</summary>
    public const int MaxTensorRank = 4;

    /// <summary>Throws <see cref="SerializationException"/> when a decoded message breaks the protocol's promises.</summary>
    public static void Check(object message)
    {
        CheckPresent(message, message.GetType().Name);
        switch (message)
        {
            case StartRun m:
                Check(m.Trunk);
                if (m.Rank < 0 || m.Rank >= m.SlotsByRank.Length || m.Peers.Length != m.SlotsByRank.Length || m.SlotsByRank.Any(s => s < 1)
                    || m.TaskRanks.Any(r => r < -1 || r >= m.SlotsByRank.Length))
                    throw new SerializationException($"StartRun: rank {m.Rank} of {m.SlotsByRank.Length} with {m.Peers.Length} peers is not a valid placement");
                if (m.GroupToken is { Length: not Collectives.TcpProcessGroups.TokenBytes })
                    throw new SerializationException($"StartRun.GroupToken: {m.GroupToken.Length} bytes where {Collectives.TcpProcessGroups.TokenBytes} are due");
                break;
            case EvaluationResult m: Check(m.Trunk); break;
            case Evaluate m:
                foreach (var split in m.Splits ?? [])
                    if (!Enum.IsDefined(split)) throw new SerializationException($"Evaluate.Splits: unknown split {(int)split}");
                break;
            case FitHeads m:
                foreach (var t in m.Trunk) Check(t);
                if (m.Tasks.Any(t => t < 0)) throw new SerializationException("FitHeads: negative task index");
                break;
            case HeadsFitted m:
                Check(m.Weight);
                Check(m.Bias);
                if (m.Tasks.Any(t => t < 0) || m.Fits.Length != m.Tasks.Length)
                    throw new SerializationException($"heads fitted by {m.WorkerId}: {m.Tasks.Length} tasks (none may be negative) and {m.Fits.Length} fits");
                break;
            case HeadShard m:
                Check(m.Weight);
                Check(m.Bias);
                if (m.TaskIndices.Any(t => t < 0))
                    throw new SerializationException($"head shard of {m.WorkerId}: negative task index");
                break;
        }
    }

    /// <summary>Rank, non-negative dimensions, and exactly 4 bytes per element (float32).</summary>
    public static void Check(TensorData tensor)
    {
        if (tensor.Shape.Length > MaxTensorRank || tensor.Shape.Any(d => d < 0))
            throw new SerializationException($"tensor '{Shorten(tensor.Name)}': shape [{string.Join(',', tensor.Shape.Take(8))}] is not a valid float32 tensor shape");
        var elements = 1L;
        foreach (var d in tensor.Shape)
        {
            elements *= d;
            if (elements * sizeof(float) > MaxMessageBytes)
                throw new SerializationException($"tensor '{Shorten(tensor.Name)}': shape [{string.Join(',', tensor.Shape)}] exceeds {MaxMessageBytes} bytes");
        }
        if (elements * sizeof(float) != tensor.Bytes.LongLength)
            throw new SerializationException(
                $"tensor '{Shorten(tensor.Name)}': {tensor.Bytes.LongLength} bytes do not hold shape [{string.Join(',', tensor.Shape)}] of float32");
    }

    private static readonly ConcurrentDictionary<Type, (PropertyInfo Property, bool Nullable)[]> MembersByType = new();

    /// <summary>
    /// MessagePack reads nil into any reference field; a member the contract declares non-nullable (and every array
    /// element) must be present, or the message would fail later, far from the wire, with a NullReferenceException.
    /// </summary>
    private static void CheckPresent(object value, string path)
    {
        foreach (var (property, nullable) in MembersOf(value.GetType()))
        {
            var member = property.GetValue(value);
            var where = $"{path}.{property.Name}";
            if (member is null)
            {
                if (nullable) continue;
                throw new SerializationException($"{where} is missing");
            }
            if (member is Array array && !array.GetType().GetElementType()!.IsValueType)
            {
                for (var i = 0; i < array.Length; i++)
                {
                    var item = array.GetValue(i) ?? throw new SerializationException($"{where}[{i}] is missing");
                    if (IsContract(item.GetType())) CheckPresent(item, $"{where}[{i}]");
                }
            }
            else if (IsContract(member.GetType())) CheckPresent(member, where);
        }
    }

    private static (PropertyInfo, bool)[] MembersOf(Type type) => MembersByType.GetOrAdd(type, t =>
    {
        var nullability = new NullabilityInfoContext();
        return t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && !p.PropertyType.IsValueType && p.GetCustomAttribute<MessagePack.KeyAttribute>() is not null)
            .Select(p => (p, nullability.Create(p).ReadState == NullabilityState.Nullable))
            .ToArray();
    });

    private static bool IsContract(Type type) => !type.IsValueType && type.GetCustomAttribute<MessagePack.MessagePackObjectAttribute>() is not null;

    private static void CheckAll(TensorData[] tensors)
    {
        foreach (var tensor in tensors) Check(tensor);
    }

    private static void Check(TrunkState? trunk)
    {
        if (trunk is null) return;
        CheckAll(trunk.Parameters);
        CheckAll(trunk.Moments);
        if (trunk.Best is { } best) CheckAll(best);
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "…";
}
