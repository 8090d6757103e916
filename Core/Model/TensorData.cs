namespace MtnnCluster.Model;

/// <summary>
/// One named float32 tensor as bytes: shape and little-endian values. The form in which parameters leave a
/// device, for the wire (the cluster's serializer) and for checkpoint files (<see cref="Checkpoints.TensorFile"/>).
/// </summary>
public sealed record TensorData(string Name, int[] Shape, byte[] Bytes)
{
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
}
