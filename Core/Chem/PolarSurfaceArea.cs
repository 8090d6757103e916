namespace MtnnCluster.Chem;

/// <summary>
/// Topological polar surface area (Ertl, Rohde and Selzer, J. Med. Chem. 2000): a sum of fixed contributions of
/// nitrogen and oxygen atoms by their hydrogens, charge, aromaticity and bonds, in Å². Like RDKit's default
/// (<c>CalcTPSA</c>), sulfur and phosphorus contribute nothing. Its counts are whole Å²: the total, and the part on nitrogen.
/// </summary>
public static class PolarSurfaceArea
{
    public static IReadOnlyList<string> Names { get; } = ["polar_surface_area", "polar_surface_area_on_nitrogen"];

    public static int[] Counts(Molecule m)
    {
        double total = 0, onNitrogen = 0;
        for (var atom = 0; atom < m.Atoms.Count; atom++)
        {
            var area = Contribution(m, atom);
            total += area;
            if (m.Atoms[atom].AtomicNumber == 7) onNitrogen += area;
        }
        return [(int)Math.Round(total), (int)Math.Round(onNitrogen)];
    }

    /// <summary>The area in Å² an atom adds: nitrogen and oxygen by Ertl's table, every other element none.</summary>
    public static double Contribution(Molecule m, int atom)
    {
        var a = m.Atoms[atom];
        if (a.AtomicNumber is not (7 or 8)) return 0;
        int singles = 0, doubles = 0, triples = 0, aromatic = 0;
        foreach (var b in m.BondsOf(atom))
        {
            var bond = m.Bonds[b];
            if (m.Atoms[bond.OtherAtom(atom)].AtomicNumber <= 1) continue;
            if (bond.IsAromatic) aromatic++;
            else if (bond.Order == BondOrder.Single) singles++;
            else if (bond.Order == BondOrder.Double) doubles++;
            else if (bond.Order == BondOrder.Triple) triples++;
        }
        var heavy = singles + doubles + triples + aromatic;
        var h = a.TotalHydrogens;
        var inThreeRing = m.Rings.Any(r => r.Count == 3 && r.Contains(atom));
        var table = a.AtomicNumber == 7
            ? Nitrogen(a.FormalCharge, h, singles, doubles, triples, aromatic, heavy, inThreeRing)
            : Oxygen(a.FormalCharge, h, singles, doubles, aromatic, heavy, inThreeRing);
        // an environment the table does not list: Ertl's fallback, by heavy neighbours and hydrogens
        return table ?? Math.Max(0, (a.AtomicNumber == 7 ? 30.5 - 8.2 * heavy : 28.5 - 8.6 * heavy) + 1.5 * h);
    }

    private static double? Nitrogen(int charge, int h, int singles, int doubles, int triples, int aromatic, int heavy, bool inThreeRing) =>
        (charge, aromatic > 0) switch
        {
            (0, false) => (h, singles, doubles, triples) switch
            {
                (0, 3, 0, 0) => inThreeRing ? 3.01 : 3.24,
                (0, 1, 1, 0) => 12.36,
                (0, 0, 0, 1) => 23.79,
                (0, 1, 2, 0) => 11.68,
                (0, 0, 1, 1) => 13.60,
                (1, 2, 0, 0) => inThreeRing ? 21.94 : 12.03,
                (1, 0, 1, 0) => 23.85,
                (2, 1, 0, 0) => 26.02,
                _ => null,
            },
            (1, false) => (h, singles, doubles, triples) switch
            {
                (0, 4, 0, 0) => 0.00,
                (0, 2, 1, 0) => 3.01,
                (0, 1, 0, 1) => 4.36,
                (1, 3, 0, 0) => 4.44,
                (1, 1, 1, 0) => 13.97,
                (2, 2, 0, 0) => 16.61,
                (2, 0, 1, 0) => 25.59,
                (3, 1, 0, 0) => 27.64,
                _ => null,
            },
            (-1, false) when h == 0 && singles == 2 && heavy == 2 => 14.10,
            (0, true) => (h, aromatic, singles, doubles) switch
            {
                (0, 2, 0, 0) => 12.89,
                (0, 3, 0, 0) => 4.41,
                (0, 2, 1, 0) => 4.93,
                (0, 2, 0, 1) => 8.39,
                (1, 2, 0, 0) => 15.79,
                _ => null,
            },
            (1, true) => (h, aromatic, singles) switch
            {
                (0, 3, 0) => 4.10,
                (0, 2, 1) => 3.88,
                (1, 2, 0) => 14.14,
                _ => null,
            },
            _ => null,
        };

    private static double? Oxygen(int charge, int h, int singles, int doubles, int aromatic, int heavy, bool inThreeRing) =>
        (charge, aromatic > 0) switch
        {
            (0, false) when h == 0 && singles == 2 && heavy == 2 => inThreeRing ? 12.53 : 9.23,
            (0, false) when h == 0 && doubles == 1 && heavy == 1 => 17.07,
            (0, false) when h == 1 && singles == 1 && heavy == 1 => 20.23,
            (-1, false) when h == 0 && singles == 1 && heavy == 1 => 23.06,
            (0, true) when h == 0 && aromatic == 2 && heavy == 2 => 13.14,
            _ => null,
        };
}
