namespace MtnnCluster.Chem;

public enum BondOrder
{
    Single = 1,
    Double = 2,
    Triple = 3,
    Quadruple = 4,
    Aromatic = 12,
}

/// <summary>One bond of a <see cref="Molecule"/>, between atoms <see cref="Begin"/> and <see cref="End"/>.</summary>
public sealed class Bond
{
    internal Bond(int index, int begin, int end, BondOrder order)
    {
        Index = index;
        Begin = begin;
        End = end;
        Order = order;
        IsAromatic = order == BondOrder.Aromatic;
    }

    public int Index { get; }

    public int Begin { get; }

    public int End { get; }

    public BondOrder Order
    {
        get => _order;
        internal set
        {
            _order = value;
            if (value != BondOrder.Aromatic)
            {
                KekuleOrder = value;
            }
        }
    }

    private BondOrder _order;

    /// <summary>
    /// The order in the Kekulé structure (the last order set other than aromatic): RDKit keeps the valences it
    /// computed on that structure after perceiving aromaticity, and conjugation and hybridization read them.
    /// </summary>
    internal BondOrder KekuleOrder { get; private set; }

    public bool IsAromatic { get; internal set; }

    /// <summary>Double-bond stereo as RDKit's legacy perception assigns it from '/' and '\' (E/Z or none).</summary>
    public BondStereo Stereo { get; internal set; }

    /// <summary>'/' or '\' as written, seen from <see cref="Begin"/> to <see cref="End"/>; '\0' when none.</summary>
    internal char Direction { get; set; }

    /// <summary>
    /// The SMILES ring-closure number that made this bond, or -1: RDKit numbers such bonds after all the others,
    /// by ring-closure number.
    /// </summary>
    internal int RingNumber { get; set; } = -1;

    public int OtherAtom(int atom) => atom == Begin ? End : Begin;

    /// <summary>How much this bond adds to an atom's valence (1.5 for aromatic, as RDKit counts it).</summary>
    internal double ValenceContribution => Order switch
    {
        BondOrder.Aromatic => 1.5,
        _ => (int)Order,
    };

    public override string ToString() => $"{Begin}-{End}:{Order}";
}
