using MtnnCluster.Collectives;
using MtnnCluster.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Training;

/// <summary>
/// How embeddings of some rows travel: <see cref="Send"/>[q] lists this worker's rows (indices among its rows in
/// the order given) that rank q's tasks label; <see cref="Receive"/>[q] lists the positions rank q sends here,
/// in the same order; <see cref="OwnAt"/> says where this worker's rows stand in that order. Both sides derive
/// it from the same data, so only floats travel.
/// </summary>
internal sealed record EmbeddingRoute(long[][] Send, long[][] Receive, long[] OwnAt)
{
    public int OwnRows => OwnAt.Length;

    /// <summary>The route of <paramref name="positions"/> (a global order, the same on every worker) for <paramref name="rank"/>.</summary>
    public static EmbeddingRoute Of(SplitShard split, int rank, int size, IReadOnlyList<long> positions)
    {
        var send = Enumerable.Range(0, size).Select(_ => new List<long>()).ToArray();
        var receive = Enumerable.Range(0, size).Select(_ => new List<long>()).ToArray();
        var ownAt = new List<long>();
        for (var i = 0; i < positions.Count; i++)
        {
            var p = positions[i];
            var owner = split.Owners[p];
            if (owner == rank)
            {
                foreach (var q in split.LabelledBy[p]) send[q].Add(ownAt.Count);
                ownAt.Add(i);
            }
            if (split.LabelledHere[p]) receive[owner].Add(p);
        }
        return new EmbeddingRoute(send.Select(s => s.ToArray()).ToArray(), receive.Select(r => r.ToArray()).ToArray(), [.. ownAt]);
    }
}

/// <summary>
/// How the embeddings of a batch's rows reach the owners of the tasks labelled on them, and their gradients come
/// back (all-to-all both ways, through the worker's <see cref="IProcessGroup"/>; with one worker nothing moves).
/// Both sides derive the routes from the same data, so only floats travel, as float32 or, with --wire-precision
/// bf16, packed bfloat16.
/// </summary>
internal sealed class EmbeddingExchange(IProcessGroup group, Device device, WirePrecision wire, int hidden)
{
    private readonly IProcessGroup _group = group;
    private readonly Device _device = device;
    private readonly WirePrecision _wire = wire;
    private readonly int _hidden = hidden;

    /// <summary>The route of <paramref name="positions"/> of <paramref name="split"/> (a global order, the same on every worker) for this worker.</summary>
    public EmbeddingRoute RouteOf(SplitShard split, IReadOnlyList<long> positions) => EmbeddingRoute.Of(split, _group.Rank, _group.Size, positions);

    /// <summary>
    /// Sends each worker the embeddings of this worker's rows its tasks label (<paramref name="own"/>: [own rows ×
    /// hidden], or null with none) and returns the embeddings of the rows labelled here, from every worker, with
    /// their positions: source rank by source rank, each in the route's order. Call inside a dispose scope.
    /// </summary>
    public (Tensor Embeddings, long[] Positions) SendEmbeddings(EmbeddingRoute route, Tensor? own)
    {
        var hidden = _hidden;
        var rank = _group.Rank;
        Tensor Own(long[] rows) => own is null || rows.Length == 0 ? zeros([0, hidden], device: _device)
            : rows.Length == route.OwnRows ? own : own.index_select(0, tensor(rows, device: _device));
        if (_group.Size == 1) return (Own(route.Send[0]), route.Receive[0]);
        var send = new float[_group.Size][];
        for (var q = 0; q < send.Length; q++) send[q] = q == rank ? [] : ToHost(Own(route.Send[q]));
        var received = _group.AllToAll(send);
        var parts = new List<Tensor>();
        for (var q = 0; q < send.Length; q++)
            parts.Add(q == rank ? Own(route.Send[q]) : FromHost(received[q], route.Receive[q].Length, hidden));
        return (cat(parts, 0), route.Receive.SelectMany(r => r).ToArray());
    }

    /// <summary>
    /// The reverse of <see cref="SendEmbeddings"/>: <paramref name="gradient"/> holds the loss gradient of every
    /// embedding received; each part goes back to the worker that sent it, and this worker sums what comes back for
    /// its own rows, in rank order. Returns [own rows × hidden]. Call inside a dispose scope.
    /// </summary>
    public Tensor SendGradients(EmbeddingRoute route, Tensor gradient)
    {
        var hidden = _hidden;
        var rank = _group.Rank;
        var offsets = new int[_group.Size + 1];
        for (var q = 0; q < _group.Size; q++) offsets[q + 1] = offsets[q] + route.Receive[q].Length;
        Tensor Part(int q) => gradient.narrow(0, offsets[q], offsets[q + 1] - offsets[q]);
        if (_group.Size == 1 && route.Send[0].Length == route.OwnRows) return gradient;
        var back = new float[_group.Size][];
        for (var q = 0; q < back.Length; q++) back[q] = q == rank ? [] : ToHost(Part(q));
        var received = _group.Size == 1 ? back : _group.AllToAll(back);
        var sum = zeros([route.OwnRows, hidden], device: _device);
        for (var q = 0; q < back.Length; q++)
        {
            if (route.Send[q].Length == 0) continue;
            var part = q == rank ? Part(q) : FromHost(received[q], route.Send[q].Length, hidden);
            sum.index_add_(0, tensor(route.Send[q], device: _device), part, Scalars.One);
        }
        return sum;
    }

    /// <summary>What goes on the wire for <paramref name="t"/>: its values, or with --wire-precision bf16 their bfloat16 packing.</summary>
    private float[] ToHost(Tensor t)
    {
        if (t.numel() == 0) return [];
        var values = new float[t.numel()];
        TensorCodec.CopyTo(t.detach().contiguous(), values);
        return _wire == WirePrecision.Bf16 ? BFloat16Packing.Pack(values) : values;
    }

    private Tensor FromHost(float[] received, int rows, int hidden)
    {
        var count = checked(rows * hidden);
        var expected = _wire == WirePrecision.Bf16 ? BFloat16Packing.PackedLength(count) : count;
        if (received.Length != expected)
            throw new CollectiveAbortedException($"exchange: {received.Length} floats received where {rows} rows of {hidden} were expected ({_wire})");
        if (rows == 0) return zeros([0, hidden], device: _device);
        var values = received;
        if (_wire == WirePrecision.Bf16) BFloat16Packing.Unpack(received, values = new float[count]);
        return tensor(values, [rows, hidden]).to(_device);
    }
}
