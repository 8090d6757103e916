namespace MtnnCluster.Chem;

/// <summary>
/// Whole-molecule counts that a hashed circular fingerprint only spreads over many bits: size, composition, rings,
/// flexibility, hydrogen-bond donors and acceptors, charges. All are whole numbers, so they share the fingerprint's
/// log(1 + count) scale. Counts of the kind found among the RDKit 2D descriptors chemprop can add to its graphs.
/// </summary>
public static class MoleculeDescriptors
{
    /// <summary>The descriptors' names, in the order <see cref="Counts"/> returns them.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "heavy_atoms", "weight_tens_of_daltons", "hydrogens",
        "carbon", "nitrogen", "oxygen", "fluorine", "phosphorus", "sulfur", "chlorine", "bromine", "iodine", "boron",
        "silicon", "selenium", "other_elements", "heteroatoms", "halogens",
        "aromatic_atoms", "ring_atoms", "ring_heteroatoms", "rings", "aromatic_rings", "aromatic_heterocycles",
        "saturated_rings", "rings_of_3", "rings_of_4", "rings_of_5", "rings_of_6", "rings_of_7", "rings_of_8_or_more",
        "fused_ring_atoms", "rotatable_bonds", "double_bonds", "triple_bonds", "sp3_carbons",
        "donors_nh_oh_atoms", "acceptors_n_o", "positive_charges", "negative_charges",
        "terminal_atoms", "branch_atoms", "quaternary_atoms", "components",
    ];

    public static int Count => Names.Count;

    /// <summary>The counts of <paramref name="m"/>, one per name in <see cref="Names"/>.</summary>
    public static int[] Counts(Molecule m)
    {
        var counts = new int[Count];
        var next = 0;
        void Add(int value) => counts[next++] = value;

        var heavy = Enumerable.Range(0, m.Atoms.Count).Where(i => m.Atoms[i].AtomicNumber > 1).ToArray();
        Add(heavy.Length);
        var weight = m.Atoms.Sum(a => PeriodicTable.AtomicWeight(a.AtomicNumber) + a.TotalHydrogens * PeriodicTable.AtomicWeight(1));
        Add((int)Math.Round(weight / 10));
        Add(m.Atoms.Sum(a => a.TotalHydrogens + (a.AtomicNumber == 1 ? 1 : 0)));

        int[] elements = [6, 7, 8, 9, 15, 16, 17, 35, 53, 5, 14, 34];
        foreach (var z in elements) Add(heavy.Count(i => m.Atoms[i].AtomicNumber == z));
        Add(heavy.Count(i => !elements.Contains(m.Atoms[i].AtomicNumber)));
        Add(heavy.Count(i => m.Atoms[i].AtomicNumber != 6));
        Add(heavy.Count(i => m.Atoms[i].AtomicNumber is 9 or 17 or 35 or 53));

        Add(heavy.Count(i => m.Atoms[i].IsAromatic));
        Add(heavy.Count(m.IsRingAtom));
        Add(heavy.Count(i => m.IsRingAtom(i) && m.Atoms[i].AtomicNumber != 6));
        Add(m.RingCount);
        var aromaticRings = Enumerable.Range(0, m.RingCount).Where(m.IsAromaticRing).ToArray();
        Add(aromaticRings.Length);
        Add(aromaticRings.Count(r => m.Rings[r].Any(a => m.Atoms[a].AtomicNumber != 6)));
        Add(Enumerable.Range(0, m.RingCount).Count(r => m.RingBonds[r].All(b => m.Bonds[b].Order == BondOrder.Single && !m.Bonds[b].IsAromatic)));
        for (var size = 3; size <= 7; size++) Add(m.Rings.Count(ring => ring.Count == size));
        Add(m.Rings.Count(ring => ring.Count >= 8));
        var ringsOfAtom = new int[m.Atoms.Count];
        foreach (var ring in m.Rings)
            foreach (var atom in ring) ringsOfAtom[atom]++;
        Add(ringsOfAtom.Count(r => r >= 2));

        Add(m.Bonds.Count(b => IsRotatable(m, b)));
        Add(m.Bonds.Count(b => b.Order == BondOrder.Double && !b.IsAromatic));
        Add(m.Bonds.Count(b => b.Order == BondOrder.Triple));
        Add(heavy.Count(i => m.Atoms[i].AtomicNumber == 6 && !m.Atoms[i].IsAromatic
            && m.BondsOf(i).All(b => m.Bonds[b].Order == BondOrder.Single && !m.Bonds[b].IsAromatic)));
        // Lipinski's counts: N and O bearing hydrogen, and all N and O
        Add(heavy.Count(i => m.Atoms[i].AtomicNumber is 7 or 8 && m.Atoms[i].TotalHydrogens > 0));
        Add(heavy.Count(i => m.Atoms[i].AtomicNumber is 7 or 8));
        Add(heavy.Count(i => m.Atoms[i].FormalCharge > 0));
        Add(heavy.Count(i => m.Atoms[i].FormalCharge < 0));

        Add(heavy.Count(i => HeavyDegree(m, i) == 1));
        Add(heavy.Count(i => HeavyDegree(m, i) >= 3));
        Add(heavy.Count(i => HeavyDegree(m, i) >= 4));
        Add(m.ComponentCount);
        return counts;
    }

    private static int HeavyDegree(Molecule m, int atom) => m.BondsOf(atom).Count(b => m.Atoms[m.Bonds[b].OtherAtom(atom)].AtomicNumber > 1);

    /// <summary>
    /// A single, non-ring bond between two heavy atoms that each have another heavy neighbour and no triple bond
    /// (turning about an sp atom's axis changes nothing). Close to RDKit's non-strict rule, not its strict one.
    /// </summary>
    private static bool IsRotatable(Molecule m, Bond b) =>
        b.Order == BondOrder.Single && !b.IsAromatic && !m.IsRingBond(b.Index)
        && m.Atoms[b.Begin].AtomicNumber > 1 && m.Atoms[b.End].AtomicNumber > 1
        && HeavyDegree(m, b.Begin) >= 2 && HeavyDegree(m, b.End) >= 2
        && !HasTripleBond(m, b.Begin) && !HasTripleBond(m, b.End);

    private static bool HasTripleBond(Molecule m, int atom) => m.BondsOf(atom).Any(b => m.Bonds[b].Order == BondOrder.Triple);
}
