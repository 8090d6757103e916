namespace MtnnCluster.Chem;

/// <summary>
/// Whole-molecule counts that a hashed circular fingerprint only spreads over many bits: size, composition, rings,
/// flexibility, hydrogen-bond donors and acceptors, charges; from set 2 also the graph's shape
/// (<see cref="GraphShape"/>), functional groups (<see cref="FunctionalGroups"/>) and the polar surface area
/// (<see cref="PolarSurfaceArea"/>). All are whole numbers, so they share the fingerprint's log(1 + count) scale.
/// Counts of the kind found among the RDKit 2D descriptors chemprop can add to its graphs.
/// </summary>
/// <remarks>
/// A set is what a model was trained on, so it never changes once released: a new descriptor makes a new set, which
/// starts with the last one's counts. A checkpoint names its set (<c>FeaturizerSpec.DescriptorSet</c>).
/// </remarks>
public static class MoleculeDescriptors
{
    /// <summary>The set new runs use.</summary>
    public const int LatestSet = 2;

    // set 1: the 44 counts below; set 2 adds the graph's shape, functional groups and the polar surface area
    private static readonly string[] FirstSet =
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

    private static readonly string[] SecondSet = [.. FirstSet, .. GraphShape.Names, .. FunctionalGroups.Names, .. PolarSurfaceArea.Names];

    /// <summary>Where the counts set 2 adds are cut, so that a dataset's values fit the device's one-byte codes (set 1's are as they were).</summary>
    public const int MaxCount = 250;

    /// <summary>The descriptors' names in set <paramref name="set"/>, in the order <see cref="Counts"/> returns them.</summary>
    public static IReadOnlyList<string> Names(int set) => set switch
    {
        1 => FirstSet,
        2 => SecondSet,
        _ => throw new ArgumentOutOfRangeException(nameof(set), set, $"descriptor set {set} is not known to this build (1-{LatestSet})"),
    };

    public static int Count(int set) => Names(set).Count;

    /// <summary>The counts of <paramref name="m"/> in set <paramref name="set"/>, one per name in <see cref="Names"/>.</summary>
    public static int[] Counts(Molecule m, int set)
    {
        var counts = new int[Count(set)];
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

        Add(heavy.Count(i => m.HeavyDegree(i) == 1));
        Add(heavy.Count(i => m.HeavyDegree(i) >= 3));
        Add(heavy.Count(i => m.HeavyDegree(i) >= 4));
        Add(m.ComponentCount);
        if (set == 1) return counts;

        foreach (var value in GraphShape.Counts(m)) Add(Math.Min(value, MaxCount));
        foreach (var value in FunctionalGroups.Counts(m)) Add(Math.Min(value, MaxCount));
        foreach (var value in PolarSurfaceArea.Counts(m)) Add(Math.Min(value, MaxCount));
        return counts;
    }

    /// <summary>
    /// A single, non-ring bond between two heavy atoms that each have another heavy neighbour and no triple bond
    /// (turning about an sp atom's axis changes nothing). Close to RDKit's non-strict rule, not its strict one.
    /// </summary>
    private static bool IsRotatable(Molecule m, Bond b) =>
        b.Order == BondOrder.Single && !b.IsAromatic && !m.IsRingBond(b.Index)
        && m.Atoms[b.Begin].AtomicNumber > 1 && m.Atoms[b.End].AtomicNumber > 1
        && m.HeavyDegree(b.Begin) >= 2 && m.HeavyDegree(b.End) >= 2
        && !HasTripleBond(m, b.Begin) && !HasTripleBond(m, b.End);

    private static bool HasTripleBond(Molecule m, int atom) => m.BondsOf(atom).Any(b => m.Bonds[b].Order == BondOrder.Triple);
}
