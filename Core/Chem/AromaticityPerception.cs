using static MtnnCluster.Chem.PeriodicTable;

namespace MtnnCluster.Chem;

/// <summary>
/// RDKit's default aromaticity model on a Kekulé structure. Each ring atom donates 0, 1 or 2
/// pi electrons (pyridine-type N 1, pyrrole-type N/O/S 2, a carbon with an exocyclic double bond
/// to a more electronegative atom 0); a ring, or a fused system of up to six rings sharing one bond
/// each, is aromatic when its electrons number 4n+2 (n >= 1), or exactly 2.
/// </summary>
internal static class AromaticityPerception
{
    private const int MaxFusedRingSize = 24;
    private const int MaxRingsPerSystem = 6;

    private enum Donor
    {
        None,
        Vacant,
        One,
        Two,
    }

    public static void Perceive(Molecule m)
    {
        var rings = m.Rings;
        var donors = new Donor[m.Atoms.Count];
        var seen = new bool[m.Atoms.Count];
        var eligible = new bool[m.Atoms.Count];
        var candidateRings = new List<int>();
        for (var r = 0; r < rings.Count; r++)
        {
            var allEligible = true;
            foreach (var atom in rings[r])
            {
                // Judged once, with the size of the first ring it is seen in (as RDKit does; the
                // macrocycle rule depends on it).
                if (!seen[atom])
                {
                    seen[atom] = true;
                    donors[atom] = DonorType(m, m.Atoms[atom], rings[r].Count);
                    eligible[atom] = IsEligible(m, m.Atoms[atom], donors[atom]);
                }
                allEligible &= eligible[atom];
            }
            if (allEligible)
            {
                candidateRings.Add(r);
            }
        }

        var neighbors = FusionNeighbors(m, candidateRings);
        var done = new bool[candidateRings.Count];
        for (var start = 0; start < candidateRings.Count; start++)
        {
            if (!done[start])
            {
                ApplyHuckel(m, FusedSystem(start, neighbors, done), candidateRings, neighbors, donors);
            }
        }
    }

    private static Donor DonorType(Molecule m, Atom atom, int ringSize)
    {
        var electrons = PiElectrons(m, atom);
        var exocyclicPartner = ExocyclicMultipleBondPartner(m, atom);
        var stolenByPartner = exocyclicPartner is { } partner &&
                              MoreElectronegative(m.Atoms[partner].AtomicNumber, atom.AtomicNumber);
        Donor donor;
        if (electrons < 0)
        {
            donor = Donor.None;
        }
        else if (electrons == 0)
        {
            donor = exocyclicPartner is not null ? Donor.Vacant
                : HasRingMultipleBond(m, atom) ? Donor.One
                : Donor.None;
        }
        else if (electrons == 1)
        {
            donor = exocyclicPartner is not null ? (stolenByPartner ? Donor.Vacant : Donor.One)
                : HasMultipleBond(m, atom) ? Donor.One
                : atom.FormalCharge == 1 ? Donor.Vacant // tropylium, cyclopropenyl cation
                : Donor.None;
        }
        else
        {
            if (stolenByPartner)
            {
                electrons--;
            }
            donor = electrons % 2 == 1 ? Donor.One : Donor.Two;
        }

        // An ether O or S in a macrocycle is a bridge, not a furan-like donor.
        if (donor == Donor.Two && ringSize >= 9 && atom.AtomicNumber is 8 or 16 && m.Degree(atom.Index) == 2 &&
            atom.FormalCharge == 0 && !HasMultipleBond(m, atom))
        {
            donor = Donor.None;
        }
        return donor;
    }

    /// <summary>Electrons the atom can put into a ring's pi system, or -1 if it cannot take part.</summary>
    private static int PiElectrons(Molecule m, Atom atom)
    {
        var defaultValence = DefaultValence(atom.AtomicNumber);
        if (defaultValence <= 1)
        {
            return -1; // univalent or metallic
        }
        var degree = m.Degree(atom.Index) + atom.TotalHydrogens;
        if (degree > 3)
        {
            return -1;
        }
        var lonePairElectrons = Math.Max(OuterElectrons(atom.AtomicNumber) - defaultValence - atom.FormalCharge, 0);
        var electrons = defaultValence - degree + lonePairElectrons - atom.RadicalElectrons;
        if (electrons > 1 && Unsaturation(m, atom) > 1)
        {
            electrons = 1; // a triple bond leaves one electron for the ring
        }
        return electrons;
    }

    /// <summary>RDKit's test for atoms allowed in an aromatic ring.</summary>
    private static bool IsEligible(Molecule m, Atom atom, Donor donor)
    {
        var z = atom.AtomicNumber;
        if ((z > 18 && z != 34 && z != 52) || donor == Donor.None)
        {
            return false;
        }
        var chargedDefault = DefaultValence(Math.Clamp(z - atom.FormalCharge, 0, MaxAtomicNumber));
        if (DefaultValence(z) > 0 && ValenceModel.TotalValence(m, atom) > chargedDefault)
        {
            return false; // not in its default valence state, e.g. a sulfone S
        }
        if (atom.RadicalElectrons > 0 && (z != 6 || atom.FormalCharge != 0))
        {
            return false;
        }
        if (Unsaturation(m, atom) > 1)
        {
            var multiple = m.BondsOf(atom.Index).Count(b => m.Bonds[b].Order is BondOrder.Double or BondOrder.Triple);
            if (multiple > 1)
            {
                return false; // cumulated, as in C1=C=NC=N1
            }
        }
        return true;
    }

    private static int Unsaturation(Molecule m, Atom atom) =>
        ValenceModel.ExplicitValence(m, atom) - m.Degree(atom.Index);

    private static int? ExocyclicMultipleBondPartner(Molecule m, Atom atom)
    {
        foreach (var b in m.BondsOf(atom.Index))
        {
            var bond = m.Bonds[b];
            if (!m.IsRingBond(b) && bond.ValenceContribution >= 2)
            {
                return bond.OtherAtom(atom.Index);
            }
        }
        return null;
    }

    private static bool HasRingMultipleBond(Molecule m, Atom atom) =>
        m.BondsOf(atom.Index).Any(b => m.IsRingBond(b) && m.Bonds[b].ValenceContribution >= 2);

    private static bool HasMultipleBond(Molecule m, Atom atom) =>
        m.BondsOf(atom.Index).Any(b => m.Bonds[b].Order is not BondOrder.Single);

    /// <summary>Candidate rings are fused when they share exactly one bond and neither is huge.</summary>
    private static List<int>[] FusionNeighbors(Molecule m, List<int> candidateRings)
    {
        var neighbors = candidateRings.Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < candidateRings.Count; i++)
        {
            var first = m.RingBonds[candidateRings[i]];
            if (first.Count > MaxFusedRingSize)
            {
                continue;
            }
            for (var j = i + 1; j < candidateRings.Count; j++)
            {
                var second = m.RingBonds[candidateRings[j]];
                if (second.Count <= MaxFusedRingSize && first.Intersect(second).Count() == 1)
                {
                    neighbors[i].Add(j);
                    neighbors[j].Add(i);
                }
            }
        }
        return neighbors;
    }

    private static List<int> FusedSystem(int start, List<int>[] neighbors, bool[] done)
    {
        var system = new List<int>();
        var stack = new Stack<int>();
        stack.Push(start);
        done[start] = true;
        while (stack.Count > 0)
        {
            var ring = stack.Pop();
            system.Add(ring);
            foreach (var next in neighbors[ring])
            {
                if (!done[next])
                {
                    done[next] = true;
                    stack.Push(next);
                }
            }
        }
        return system;
    }

    /// <summary>
    /// Tries every connected combination of 1..6 rings of a fused system, smallest first, and
    /// marks the outer bonds of each combination that satisfies Hückel's rule.
    /// </summary>
    private static void ApplyHuckel(Molecule m, List<int> system, List<int> candidateRings, List<int>[] neighbors,
        Donor[] donors)
    {
        var systemBonds = system.SelectMany(i => m.RingBonds[candidateRings[i]]).ToHashSet();
        var aromaticBonds = new HashSet<int>();
        var maxSize = Math.Min(system.Count, MaxRingsPerSystem);
        for (var size = 1; size <= maxSize && aromaticBonds.Count < systemBonds.Count; size++)
        {
            // Like RDKit, give up on combinations of 3+ rings in enormous systems.
            if (size > 2 && system.Count > 300)
            {
                break;
            }
            foreach (var subset in ConnectedSubsets(system, neighbors, size))
            {
                var rings = subset.Select(i => candidateRings[i]).ToList();
                if (SatisfiesHuckel(m, rings, donors))
                {
                    MarkOuterBonds(m, rings, aromaticBonds);
                }
            }
        }
    }

    /// <summary>
    /// Each connected set of <paramref name="size"/> rings exactly once (Wernicke's ESU): a set
    /// grows from its lowest ring only through rings that are new neighbours of the last one added.
    /// </summary>
    private static IEnumerable<List<int>> ConnectedSubsets(List<int> system, List<int>[] neighbors, int size)
    {
        foreach (var start in system)
        {
            var extension = neighbors[start].Where(n => n > start).ToList();
            foreach (var subset in Extend([start], extension, start, neighbors, size))
            {
                yield return subset;
            }
        }
    }

    private static IEnumerable<List<int>> Extend(List<int> subset, List<int> extension, int start,
        List<int>[] neighbors, int size)
    {
        if (subset.Count == size)
        {
            yield return subset;
            yield break;
        }
        var remaining = new List<int>(extension);
        while (remaining.Count > 0)
        {
            var next = remaining[^1];
            remaining.RemoveAt(remaining.Count - 1);
            var grown = new List<int>(subset) { next };
            var nextExtension = new List<int>(remaining);
            foreach (var candidate in neighbors[next])
            {
                if (candidate > start && !grown.Contains(candidate) && !nextExtension.Contains(candidate) &&
                    !subset.Any(s => neighbors[s].Contains(candidate)))
                {
                    nextExtension.Add(candidate);
                }
            }
            foreach (var result in Extend(grown, nextExtension, start, neighbors, size))
            {
                yield return result;
            }
        }
    }

    private static bool SatisfiesHuckel(Molecule m, List<int> rings, Donor[] donors)
    {
        // Atoms shared by three or more of the rings are buried and do not count (acepentalene).
        var membership = new Dictionary<int, int>();
        foreach (var r in rings)
        {
            foreach (var atom in m.Rings[r])
            {
                membership[atom] = membership.GetValueOrDefault(atom) + 1;
            }
        }
        var electrons = 0;
        foreach (var (atom, count) in membership)
        {
            if (count <= 2)
            {
                electrons += donors[atom] switch { Donor.One => 1, Donor.Two => 2, _ => 0 };
            }
        }
        return electrons == 2 || (electrons >= 6 && (electrons - 2) % 4 == 0);
    }

    // Fusion bonds inside the combination stay as they are; only the perimeter becomes aromatic.
    private static void MarkOuterBonds(Molecule m, List<int> rings, HashSet<int> aromaticBonds)
    {
        var count = new Dictionary<int, int>();
        foreach (var r in rings)
        {
            foreach (var b in m.RingBonds[r])
            {
                count[b] = count.GetValueOrDefault(b) + 1;
            }
        }
        foreach (var (b, n) in count)
        {
            if (n != 1)
            {
                continue;
            }
            var bond = m.Bonds[b];
            bond.IsAromatic = true;
            if (bond.Order is BondOrder.Single or BondOrder.Double)
            {
                bond.Order = BondOrder.Aromatic;
                m.Atoms[bond.Begin].IsAromatic = true;
                m.Atoms[bond.End].IsAromatic = true;
            }
            aromaticBonds.Add(b);
        }
    }
}
