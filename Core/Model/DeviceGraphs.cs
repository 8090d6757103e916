using MtnnCluster.Chem;
using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>
/// Molecular graphs a worker trains on, kept as compactly as <see cref="DeviceFeatures"/> keeps fingerprints: every
/// row's atoms and bonds in flat arrays, their feature columns as one byte each on the device (7 per atom, 4 per
/// bond, plus a float32 mass per atom), the topology (row offsets, bond ends) on the host. A batch is assembled from
/// index arrays of its rows only; the dense 72-value atom and 14-value bond features are expanded on the device.
/// With molecule-level features (descriptors, fingerprint) their rows sit beside, as <see cref="DeviceFeatures"/>.
/// </summary>
public sealed class DeviceGraphs : ITrunkRows
{
    private readonly long[] _atomStart, _bondStart;
    /// <summary>Both ends of each bond, numbered within its molecule.</summary>
    private readonly int[] _bondAtoms;
    /// <summary>[atoms × 7] and [bonds × 4] column codes (uint8; a block with no column points at a spare last column), [atoms] masses.</summary>
    private readonly Tensor _atomColumns, _bondColumns, _atomMass;

    public long RowCount { get; }
    /// <summary>The molecule-level features of the same rows; null when the trunk reads the graph alone.</summary>
    public DeviceFeatures? MoleculeFeatures { get; }
    public long AtomCount => _atomStart[^1];
    public long BondCount => _bondStart[^1];

    public long StoredBytes => new[] { _atomColumns, _bondColumns, _atomMass }.Sum(t => t.NumberOfElements * t.ElementSize) + (MoleculeFeatures?.StoredBytes ?? 0);
    public string Layout => $"graphs, {AtomCount} atoms and {BondCount} bonds as uint8 feature columns" +
                            (MoleculeFeatures is null ? "" : $", molecule features as {MoleculeFeatures.Layout}");

    /// <summary>Host bytes per stored row for the topology (offsets and bond ends), for the log and the docs.</summary>
    public double HostBytesPerRow => RowCount == 0 ? 0 : (2.0 * 8 * (RowCount + 1) + 4.0 * _bondAtoms.Length) / RowCount;

    private DeviceGraphs(long[] atomStart, long[] bondStart, int[] bondAtoms, Tensor atomColumns, Tensor bondColumns, Tensor atomMass, DeviceFeatures? moleculeFeatures)
    {
        (_atomStart, _bondStart, _bondAtoms, _atomColumns, _bondColumns, _atomMass, MoleculeFeatures) =
            (atomStart, bondStart, bondAtoms, atomColumns, bondColumns, atomMass, moleculeFeatures);
        RowCount = atomStart.Length - 1;
    }

    /// <summary>The graphs of <paramref name="rows"/> (and their molecule features, if any) on <paramref name="device"/>.</summary>
    public static DeviceGraphs Create(IReadOnlyList<MoleculeGraph> graphs, IReadOnlyList<int> rows, DeviceFeatures? moleculeFeatures, Device device)
    {
        var (atomStart, bondStart) = (new long[rows.Count + 1], new long[rows.Count + 1]);
        for (var i = 0; i < rows.Count; i++)
        {
            var graph = graphs[rows[i]];
            atomStart[i + 1] = atomStart[i] + graph.AtomCount;
            bondStart[i + 1] = bondStart[i] + graph.BondCount;
        }
        const int perAtom = GraphFeatures.AtomColumnsPerAtom, perBond = GraphFeatures.BondColumnsPerBond;
        var atomColumns = new byte[checked(atomStart[^1] * perAtom)];
        var bondColumns = new byte[checked(bondStart[^1] * perBond)];
        var masses = new float[atomStart[^1]];
        var bondAtoms = new int[checked(bondStart[^1] * 2)];
        for (var i = 0; i < rows.Count; i++)
        {
            var graph = graphs[rows[i]];
            Spare(graph.AtomColumns, atomColumns.AsSpan((int)(atomStart[i] * perAtom)), GraphFeatures.AtomFeatureCount);
            Spare(graph.BondColumns, bondColumns.AsSpan((int)(bondStart[i] * perBond)), GraphFeatures.BondFeatureCount);
            graph.AtomMass.CopyTo(masses, atomStart[i]);
            graph.BondAtoms.CopyTo(bondAtoms, bondStart[i] * 2);
        }
        return new DeviceGraphs(atomStart, bondStart, bondAtoms,
            tensor(atomColumns, [atomStart[^1], perAtom]).to(device), tensor(bondColumns, [bondStart[^1], perBond]).to(device),
            tensor(masses).to(device), moleculeFeatures);
    }

    /// <summary>Copies feature columns, a block without one pointing at the spare column after the last feature.</summary>
    private static void Spare(byte[] columns, Span<byte> into, int featureCount)
    {
        for (var k = 0; k < columns.Length; k++) into[k] = columns[k] == MoleculeGraph.NoColumn ? (byte)featureCount : columns[k];
    }

    /// <summary>Stored rows <paramref name="positions"/>, in that order, as one disconnected graph. Call inside a dispose scope.</summary>
    public GraphBatch Assemble(IReadOnlyList<long> positions)
    {
        long atoms = 0, bonds = 0;
        foreach (var p in positions)
        {
            atoms += _atomStart[p + 1] - _atomStart[p];
            bonds += _bondStart[p + 1] - _bondStart[p];
        }
        var (atomIndex, atomRow, bondIndex) = (new long[atoms], new long[atoms], new long[bonds]);
        // directed bonds in pairs: 2b runs begin → end, 2b + 1 end → begin, so a bond's reverse is its index xor 1
        var (source, target, reverse) = (new long[2 * bonds], new long[2 * bonds], new long[2 * bonds]);
        var atomsPerRow = new float[positions.Count];
        long a = 0, b = 0;
        for (var i = 0; i < positions.Count; i++)
        {
            var p = positions[i];
            var (firstAtom, rowAtoms) = (_atomStart[p], _atomStart[p + 1] - _atomStart[p]);
            var offset = a;
            for (long k = 0; k < rowAtoms; k++, a++) (atomIndex[a], atomRow[a]) = (firstAtom + k, i);
            atomsPerRow[i] = rowAtoms;
            for (var bond = _bondStart[p]; bond < _bondStart[p + 1]; bond++, b++)
            {
                var (begin, end) = (offset + _bondAtoms[2 * bond], offset + _bondAtoms[2 * bond + 1]);
                bondIndex[b] = bond;
                (source[2 * b], target[2 * b], reverse[2 * b]) = (begin, end, 2 * b + 1);
                (source[2 * b + 1], target[2 * b + 1], reverse[2 * b + 1]) = (end, begin, 2 * b);
            }
        }
        var device = _atomColumns.device;
        var atomIndices = tensor(atomIndex, device: device);
        return new GraphBatch(
            Expand(_atomColumns.index_select(0, atomIndices), GraphFeatures.AtomFeatureCount).index_put_(
                _atomMass.index_select(0, atomIndices), TensorIndex.Colon, TensorIndex.Single(GraphFeatures.AtomFeatureCount - 1)),
            Expand(_bondColumns.index_select(0, tensor(bondIndex, device: device)), GraphFeatures.BondFeatureCount),
            tensor(source, device: device), tensor(target, device: device), tensor(reverse, device: device),
            tensor(atomRow, device: device), tensor(atomsPerRow, device: device), positions.Count);
    }

    /// <summary>[n × k] column codes to dense [n × featureCount] multi-hot rows (the spare column dropped).</summary>
    private static Tensor Expand(Tensor codes, int featureCount)
    {
        var index = codes.to(ScalarType.Int64);
        var dense = zeros([codes.shape[0], featureCount + 1], device: codes.device);
        dense.scatter_(1, index, ones(index.shape, device: codes.device));
        return dense.narrow(1, 0, featureCount);
    }

    /// <summary>The atoms of stored rows [<paramref name="start"/>, +<paramref name="length"/>) (bounds a chunk's memory).</summary>
    public long AtomsIn(long start, long length) => _atomStart[start + length] - _atomStart[start];

    public void Dispose()
    {
        _atomColumns.Dispose();
        _bondColumns.Dispose();
        _atomMass.Dispose();
        MoleculeFeatures?.Dispose();
    }
}

/// <summary>
/// A batch of molecules as one graph on the device: dense atom [atoms × 72] and bond [bonds × 14] features; for
/// each directed bond (two per bond) its source and target atom and its reverse; each atom's row in the batch, and
/// each row's atom count.
/// </summary>
public sealed record GraphBatch(Tensor AtomFeatures, Tensor BondFeatures, Tensor Source, Tensor Target, Tensor Reverse, Tensor AtomRow,
    Tensor AtomsPerRow, long Rows);
