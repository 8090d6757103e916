using static MtnnCluster.Chem.PeriodicTable;

namespace MtnnCluster.Chem;

/// <summary>RDKit's hybridization types, with RDKit's numbers.</summary>
public enum Hybridization
{
    Unspecified = 0,
    S = 1,
    SP = 2,
    SP2 = 3,
    SP3 = 4,
    SP2D = 5,
    SP3D = 6,
    SP3D2 = 7,
    Other = 8,
}

/// <summary>
/// RDKit's conjugation and hybridization perception (ConjugHybrid.cpp), run on the sanitized, aromatic
/// molecule as RDKit runs it: aromatic bonds are conjugated; a bond of order 1.5 or more is conjugated with the
/// bonds next to it when the atoms involved can carry a pi system; an atom's hybridization follows from its
/// bonds plus lone pairs, a lone-pair atom next to a conjugated bond counting as SP2 (the amide N, the ester O).
/// </summary>
internal static class ConjugationHybridization
{
    /// <summary>Fills <paramref name="conjugated"/> (per bond) and <paramref name="hybridization"/> (per atom).</summary>
    public static void Perceive(Molecule m, Span<bool> conjugated, Span<Hybridization> hybridization)
    {
        var atoms = m.Atoms;
        var bonds = m.Bonds;
        var n = atoms.Count;
        Span<int> totalValence = n <= 256 ? stackalloc int[n] : new int[n];
        Span<bool> candidate = n <= 256 ? stackalloc bool[n] : new bool[n];
        for (var i = 0; i < n; i++)
        {
            totalValence[i] = KekuleValence(m, atoms[i]) + atoms[i].ImplicitHydrogens;
            candidate[i] = IsConjugationCandidate(m, atoms[i], totalValence[i]);
        }

        for (var b = 0; b < bonds.Count; b++)
        {
            conjugated[b] = bonds[b].IsAromatic;
        }
        for (var i = 0; i < n; i++)
        {
            if (!candidate[i])
            {
                continue;
            }
            var substituents = m.TotalDegree(i);
            if (substituents is < 2 or > 3)
            {
                continue;
            }
            var around = m.BondsOf(i);
            foreach (var first in around)
            {
                if (bonds[first].ValenceContribution < 1.5 || !candidate[bonds[first].OtherAtom(i)])
                {
                    continue;
                }
                foreach (var second in around)
                {
                    var other = bonds[second].OtherAtom(i);
                    if (second != first && candidate[other] && m.TotalDegree(other) <= 3)
                    {
                        conjugated[first] = true;
                        conjugated[second] = true;
                    }
                }
            }
        }

        for (var i = 0; i < n; i++)
        {
            hybridization[i] = HybridizationOf(m, atoms[i], totalValence[i], conjugated);
        }
    }

    /// <summary>
    /// Electrons the atom could give a pi system (RDKit's countAtomElec), or -1 when it cannot take part
    /// (univalent, metallic, or more than three neighbours).
    /// </summary>
    public static int PiElectrons(Molecule m, Atom atom)
    {
        var defaultValence = DefaultValence(atom.AtomicNumber);
        if (defaultValence <= 1)
        {
            return -1;
        }
        var degree = m.Degree(atom.Index) + atom.TotalHydrogens;
        if (degree > 3)
        {
            return -1;
        }
        var lonePairElectrons = Math.Max(OuterElectrons(atom.AtomicNumber) - defaultValence - atom.FormalCharge, 0);
        var electrons = defaultValence - degree + lonePairElectrons - atom.RadicalElectrons;
        if (electrons > 1 && KekuleValence(m, atom) - m.Degree(atom.Index) > 1)
        {
            electrons = 1; // a triple bond leaves one electron
        }
        return electrons;
    }

    /// <summary>
    /// The explicit valence RDKit caches: Kekulé bond orders plus hydrogens written on the atom. Counting aromatic
    /// bonds as 1.5 instead overcounts a ring N written with an implied H (thiouracil's N-H).
    /// </summary>
    public static int KekuleValence(Molecule m, Atom atom)
    {
        var valence = atom.ExplicitHydrogens;
        var halves = 0;
        foreach (var b in m.BondsOf(atom.Index))
        {
            var order = m.Bonds[b].KekuleOrder;
            if (order is BondOrder.Aromatic or 0)
            {
                halves++; // never kekulized: count 1.5 and round up, as the valence model does
            }
            else
            {
                valence += (int)order;
            }
        }
        return valence + halves + (halves + 1) / 2;
    }

    private static bool IsConjugationCandidate(Molecule m, Atom atom, int totalValence)
    {
        var z = atom.AtomicNumber;
        var lowest = Valences(z)[0];
        if (atom.FormalCharge == 0 && lowest >= 0 && totalValence > lowest)
        {
            return false; // hypervalent (sulfone S, phosphate P): not conjugated
        }
        // Beyond the first row, N- and O-group atoms join only as a terminal O-group atom (RDKit's Issue211).
        var outer = OuterElectrons(z);
        var allowed = z <= 10 || (outer != 5 && outer != 6) || (outer == 6 && m.TotalDegree(atom.Index) < 2);
        return allowed && PiElectrons(m, atom) > 0;
    }

    private static Hybridization HybridizationOf(Molecule m, Atom atom, int totalValence, ReadOnlySpan<bool> conjugated)
    {
        var totalDegree = m.TotalDegree(atom.Index);
        // RDKit hybridizes before it checks stereocentres, so the tag as written decides here.
        switch (atom.WrittenChiralTag)
        {
            case ChiralTag.Clockwise or ChiralTag.CounterClockwise or ChiralTag.Tetrahedral when totalDegree == 4:
                return Hybridization.SP3;
            case ChiralTag.SquarePlanar when totalDegree is >= 2 and <= 4:
                return Hybridization.SP2D;
            case ChiralTag.TrigonalBipyramidal when totalDegree is >= 2 and <= 5:
                return Hybridization.SP3D;
            case ChiralTag.Octahedral when totalDegree is >= 2 and <= 6:
                return Hybridization.SP3D2;
        }
        var orbitals = atom.AtomicNumber < 89 ? BondsPlusLonePairs(atom, totalDegree, totalValence) : totalDegree;
        return orbitals switch
        {
            0 or 1 => Hybridization.S,
            2 => Hybridization.SP,
            3 => Hybridization.SP2,
            4 => totalDegree > 3 || !HasConjugatedBond(m, atom.Index, conjugated) ? Hybridization.SP3 : Hybridization.SP2,
            5 => Hybridization.SP3D,
            6 => Hybridization.SP3D2,
            _ => Hybridization.Unspecified,
        };
    }

    private static int BondsPlusLonePairs(Atom atom, int totalDegree, int totalValence)
    {
        if (atom.AtomicNumber <= 1)
        {
            return totalDegree;
        }
        var outer = OuterElectrons(atom.AtomicNumber);
        var charge = atom.FormalCharge;
        var free = outer - (totalValence + charge);
        if (totalValence + outer - charge < 8)
        {
            // below an octet: radicals take orbitals of their own (C# division truncates as C++ does)
            var radicals = atom.RadicalElectrons;
            return totalDegree + (free - radicals) / 2 + radicals;
        }
        return totalDegree + free / 2;
    }

    private static bool HasConjugatedBond(Molecule m, int atom, ReadOnlySpan<bool> conjugated)
    {
        foreach (var b in m.BondsOf(atom))
        {
            if (conjugated[b])
            {
                return true;
            }
        }
        return false;
    }
}
