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
}
