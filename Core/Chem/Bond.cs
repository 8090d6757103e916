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

    public BondOrder Order { get; internal set; }

    public bool IsAromatic { get; internal set; }

    public int OtherAtom(int atom) => atom == Begin ? End : Begin;

    /// <summary>How much this bond adds to an atom's valence (1.5 for aromatic, as RDKit counts it).</summary>
    internal double ValenceContribution => Order switch
    {
        BondOrder.Aromatic => 1.5,
        _ => (int)Order,
    };

    public override string ToString() => $"{Begin}-{End}:{Order}";
}
