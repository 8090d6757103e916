namespace MtnnCluster.Chem;

/// <summary>
/// One molecule's graph for a message-passing trunk, in compact arrays: per atom the set column of each one-hot
/// block of chemprop v2's multi-hot atom features, per bond the set columns of its bond features. Built by
/// <see cref="GraphFeatures.Of"/>; the dense vectors are for tests and feature files.
/// </summary>
public sealed class MoleculeGraph
{
    /// <summary>Marks a 0/1 feature (aromatic, conjugated, in ring) that is 0, or a bond type outside the four.</summary>
    public const byte NoColumn = 255;

    internal MoleculeGraph(int atomCount, int bondCount, byte[] atomColumns, float[] atomMass, int[] bondAtoms,
        byte[] bondColumns)
    {
        AtomCount = atomCount;
        BondCount = bondCount;
        AtomColumns = atomColumns;
        AtomMass = atomMass;
        BondAtoms = bondAtoms;
        BondColumns = bondColumns;
    }

    /// <summary>A graph of no atom: what an invalid molecule reads as where inputs keep its place (never stored).</summary>
    public static readonly MoleculeGraph Empty = new(0, 0, [], [], [], []);

    public int AtomCount { get; }

    public int BondCount { get; }

    /// <summary>
    /// AtomCount × <see cref="GraphFeatures.AtomColumnsPerAtom"/> (7): per atom the set column (0..71) of each
    /// one-hot block in order (atomic number, degree, charge, chiral tag, hydrogens, hybridization) and then the
    /// aromatic column or <see cref="NoColumn"/>.
    /// </summary>
    public byte[] AtomColumns { get; }

    /// <summary>Per atom: the mass feature (0.01 × mass, as chemprop), the value of column 71.</summary>
    public float[] AtomMass { get; }

    /// <summary>BondCount × 2: begin and end atom of each bond (undirected).</summary>
    public int[] BondAtoms { get; }

    /// <summary>
    /// BondCount × <see cref="GraphFeatures.BondColumnsPerBond"/> (4): bond type column (or <see cref="NoColumn"/>
    /// for a quadruple bond), conjugated column or NoColumn, ring column or NoColumn, stereo column.
    /// </summary>
    public byte[] BondColumns { get; }

    /// <summary>The atom's <see cref="GraphFeatures.AtomFeatureCount"/> (72) values.</summary>
    public float[] AtomVector(int atom)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(atom);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(atom, AtomCount);
        var vector = new float[GraphFeatures.AtomFeatureCount];
        for (var k = 0; k < GraphFeatures.AtomColumnsPerAtom; k++)
        {
            var column = AtomColumns[atom * GraphFeatures.AtomColumnsPerAtom + k];
            if (column != NoColumn)
            {
                vector[column] = 1f;
            }
        }
        vector[GraphFeatures.MassColumn] = AtomMass[atom];
        return vector;
    }

    /// <summary>The bond's <see cref="GraphFeatures.BondFeatureCount"/> (14) values; column 0 ("no bond") is 0.</summary>
    public float[] BondVector(int bond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bond);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bond, BondCount);
        var vector = new float[GraphFeatures.BondFeatureCount];
        for (var k = 0; k < GraphFeatures.BondColumnsPerBond; k++)
        {
            var column = BondColumns[bond * GraphFeatures.BondColumnsPerBond + k];
            if (column != NoColumn)
            {
                vector[column] = 1f;
            }
        }
        return vector;
    }
}
