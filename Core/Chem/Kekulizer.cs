using static MtnnCluster.Chem.PeriodicTable;

namespace MtnnCluster.Chem;

/// <summary>
/// Turns aromatic (lowercase) input into a Kekulé structure: decides which aromatic ring atoms
/// still need a double bond, as RDKit does, and pairs them up along aromatic ring bonds. No
/// pairing means the input is impossible ("can't kekulize", e.g. c1cccc1 or pyrrole without [nH]).
/// </summary>
internal static class Kekulizer
{
    public static void Kekulize(Molecule m)
    {
        var needsDouble = new bool[m.Atoms.Count];
        foreach (var atom in m.Atoms)
        {
            if (atom.IsAromatic && !m.IsRingAtom(atom.Index))
            {
                throw new InvalidStructureException(atom.Index, "aromatic atom outside any ring");
            }
            needsDouble[atom.Index] = m.IsRingAtom(atom.Index) && ValenceModel.IsAromaticLike(m, atom) &&
                                      NeedsDoubleBond(m, atom);
        }

        var candidates = m.Bonds
            .Where(b => b.IsAromatic && m.IsRingBond(b.Index) && needsDouble[b.Begin] && needsDouble[b.End])
            .ToList();
        var mate = MaximumMatching.Find(m.Atoms.Count, candidates.Select(b => (b.Begin, b.End)));
        for (var atom = 0; atom < mate.Length; atom++)
        {
            if (needsDouble[atom] && mate[atom] < 0)
            {
                throw new InvalidStructureException(atom, "can't kekulize the aromatic system");
            }
        }

        foreach (var bond in m.Bonds)
        {
            if (bond.IsAromatic)
            {
                bond.Order = mate[bond.Begin] == bond.End ? BondOrder.Double : BondOrder.Single;
                bond.IsAromatic = false;
            }
        }
        foreach (var atom in m.Atoms)
        {
            atom.IsAromatic = false;
        }
    }

    /// <summary>
    /// An aromatic atom needs a double bond when one more bond order would bring it exactly to
    /// an allowed valence: c in benzene or n in pyridine do, [nH], o and s do not.
    /// </summary>
    private static bool NeedsDoubleBond(Molecule m, Atom atom)
    {
        var bondOrderSum = atom.TotalHydrogens;
        foreach (var b in m.BondsOf(atom.Index))
        {
            var bond = m.Bonds[b];
            bondOrderSum += bond.IsAromatic ? 1 : (int)bond.Order; // aromatic bonds start out single
        }

        var charge = atom.FormalCharge;
        if (IsEarly(atom.AtomicNumber) || (atom.AtomicNumber == 6 && charge > 0))
        {
            charge = -charge; // left of carbon a charge works the other way: B- bonds like C, C+ like B
        }
        var target = DefaultValence(atom.AtomicNumber) + charge;
        var totalValence = ValenceModel.TotalValence(m, atom);
        var allowed = Valences(atom.AtomicNumber);
        for (var i = 1; totalValence > target && i < allowed.Count && allowed[i] > 0; i++)
        {
            target = allowed[i] + charge;
        }

        if (m.Degree(atom.Index) + atom.ImplicitHydrogens >= target)
        {
            return false;
        }
        // A bracket atom two short of its valence may take the double bond and keep a radical.
        return target == bondOrderSum + 1 || (atom.IsBracket && target == bondOrderSum + 2);
    }
}
