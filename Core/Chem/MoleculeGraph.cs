namespace MtnnCluster.Chem;

/// <summary>One molecule's graph as the graph trunk reads it, in compact arrays (<see cref="GraphFeatures"/>).</summary>
public sealed class MoleculeGraph
{
    public const byte NoColumn = 255;

    public MoleculeGraph(byte[] atomColumns, float[] atomMass, int[] bondAtoms, byte[] bondColumns)
    {
        (AtomColumns, AtomMass, BondAtoms, BondColumns) = (atomColumns, atomMass, bondAtoms, bondColumns);
        AtomCount = atomMass.Length;
        BondCount = bondAtoms.Length / 2;
    }

    /// <summary>A graph of no atom: what an invalid molecule reads as (never stored).</summary>
    public static readonly MoleculeGraph Empty = new([], [], [], []);

    public int AtomCount { get; }
    public int BondCount { get; }
    public byte[] AtomColumns { get; }
    public float[] AtomMass { get; }
    public int[] BondAtoms { get; }
    public byte[] BondColumns { get; }

    public float[] AtomVector(int atom)
    {
        var v = new float[GraphFeatures.AtomFeatureCount];
        for (var k = 0; k < GraphFeatures.AtomColumnsPerAtom; k++)
            if (AtomColumns[atom * GraphFeatures.AtomColumnsPerAtom + k] is var c && c != NoColumn) v[c] = 1;
        v[^1] = AtomMass[atom];
        return v;
    }

    public float[] BondVector(int bond)
    {
        var v = new float[GraphFeatures.BondFeatureCount];
        for (var k = 0; k < GraphFeatures.BondColumnsPerBond; k++)
            if (BondColumns[bond * GraphFeatures.BondColumnsPerBond + k] is var c && c != NoColumn) v[c] = 1;
        return v;
    }
}
