namespace MtnnCluster.Chem;

/// <summary>
/// Counts of functional groups, found on the parsed graph (no SMARTS engine here): the kind of counts RDKit's
/// <c>fr_*</c> descriptors give. Several are reactive or ionisable groups that toxicity assays respond to (Michael
/// acceptors, alkyl halides, nitro groups, acids and amines); a radius-2 fingerprint hashes each into bits that
/// also depend on its surroundings.
/// </summary>
public static class FunctionalGroups
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "carboxylic_acids", "esters", "amides", "ketones", "aldehydes", "carbamates_and_ureas",
        "aliphatic_hydroxyls", "phenols", "ethers",
        "primary_amines", "secondary_amines", "tertiary_amines", "aryl_amines", "pyridine_like_n", "pyrrole_like_n",
        "nitro_groups", "nitriles", "n_n_bonds", "c_n_double_bonds", "aryl_halides", "alkyl_halides",
        "sulfonyls", "thiols", "thioethers", "thiocarbonyls", "phosphoryls",
        "michael_acceptors", "quaternary_nitrogens", "three_membered_heterocycles", "biaryl_bonds",
    ];

    public static int[] Counts(Molecule m)
    {
        var atoms = Enumerable.Range(0, m.Atoms.Count).ToArray();
        int Z(int a) => m.Atoms[a].AtomicNumber;
        int H(int a) => m.Atoms[a].TotalHydrogens;
        bool Aromatic(int a) => m.Atoms[a].IsAromatic;
        BondOrder Order(int b) => m.Bonds[b].IsAromatic ? BondOrder.Aromatic : m.Bonds[b].Order;
        IEnumerable<int> Bonded(int a, BondOrder order) =>
            m.BondsOf(a).Where(b => Order(b) == order).Select(b => m.Bonds[b].OtherAtom(a));
        bool DoubleTo(int a, int z) => Bonded(a, BondOrder.Double).Any(o => Z(o) == z);
        bool AllSingle(int a) => m.BondsOf(a).All(b => Order(b) == BondOrder.Single);
        bool Carbonyl(int c) => Z(c) == 6 && !Aromatic(c) && DoubleTo(c, 8);
        // on a carbonyl, thiocarbonyl or sulfonyl: such an N or O is an amide's or ester's, not an amine's or ether's
        bool Acyl(int x) => m.HeavyNeighbours(x).Any(y => Carbonyl(y) || (Z(y) == 6 && DoubleTo(y, 16)) || (Z(y) == 16 && DoubleTo(y, 8)));
        bool Halogen(int a) => Z(a) is 9 or 17 or 35 or 53;

        // carbonyl carbons by their single-bonded neighbours
        int acids = 0, esters = 0, amides = 0, ketones = 0, aldehydes = 0, carbamatesUreas = 0;
        foreach (var c in atoms.Where(Carbonyl))
        {
            var singles = Bonded(c, BondOrder.Single).ToArray();
            var oxygens = singles.Where(x => Z(x) == 8).ToArray();
            var nitrogens = singles.Count(x => Z(x) == 7);
            var carbons = singles.Count(x => Z(x) == 6);
            if (oxygens.Any(o => H(o) > 0 || m.Atoms[o].FormalCharge < 0)) acids++;
            else if (oxygens.Any(o => m.HeavyDegree(o) == 2)) esters++;
            if (nitrogens > 0) amides++;
            if (nitrogens + oxygens.Length >= 2) carbamatesUreas++;
            if (carbons == 2) ketones++;
            if (carbons <= 1 && H(c) >= 1 && nitrogens + oxygens.Length == 0) aldehydes++;
        }

        var o8 = atoms.Where(a => Z(a) == 8).ToArray();
        var aliphaticHydroxyls = o8.Count(o => H(o) == 1 && m.HeavyDegree(o) == 1
            && m.HeavyNeighbours(o).All(c => Z(c) == 6 && !Aromatic(c) && !Carbonyl(c)));
        var phenols = o8.Count(o => H(o) == 1 && m.HeavyNeighbours(o).Any(Aromatic));
        var ethers = o8.Count(o => !Aromatic(o) && m.HeavyDegree(o) == 2 && !Acyl(o) && m.HeavyNeighbours(o).All(c => Z(c) == 6));

        // amines: neutral, non-aromatic, single-bonded N on carbons only, not acylated (amides and sulfonamides are not)
        var n7 = atoms.Where(a => Z(a) == 7).ToArray();
        bool Amine(int n) => !Aromatic(n) && AllSingle(n) && !Acyl(n) && m.Atoms[n].FormalCharge == 0 && m.HeavyNeighbours(n).All(c => Z(c) == 6);
        var primaryAmines = n7.Count(n => Amine(n) && H(n) == 2);
        var secondaryAmines = n7.Count(n => Amine(n) && H(n) == 1);
        var tertiaryAmines = n7.Count(n => Amine(n) && H(n) == 0);
        var arylAmines = n7.Count(n => Amine(n) && m.HeavyNeighbours(n).Any(Aromatic));
        var pyridineLike = n7.Count(n => Aromatic(n) && H(n) == 0 && m.Degree(n) == 2);
        var pyrroleLike = n7.Count(n => Aromatic(n) && (H(n) > 0 || m.Degree(n) == 3));
        var nitro = n7.Count(n => m.HeavyNeighbours(n).Count(o => Z(o) == 8 && m.HeavyDegree(o) == 1) == 2);
        var nitriles = atoms.Count(c => Z(c) == 6 && Bonded(c, BondOrder.Triple).Any(x => Z(x) == 7));
        var nnBonds = m.Bonds.Count(b => Z(b.Begin) == 7 && Z(b.End) == 7 && !b.IsAromatic);
        var cnDoubleBonds = m.Bonds.Count(b => Order(b.Index) == BondOrder.Double && Z(b.Begin) + Z(b.End) == 13);
        var arylHalides = atoms.Count(a => Halogen(a) && m.HeavyNeighbours(a).Any(Aromatic));
        var alkylHalides = atoms.Count(a => Halogen(a) && m.HeavyNeighbours(a).Any(c => !Aromatic(c) && Z(c) == 6));

        var s16 = atoms.Where(a => Z(a) == 16).ToArray();
        var sulfonyls = s16.Count(s => Bonded(s, BondOrder.Double).Count(o => Z(o) == 8) >= 2);
        var thiols = s16.Count(s => H(s) > 0);
        var thioethers = s16.Count(s => !Aromatic(s) && AllSingle(s) && m.HeavyDegree(s) == 2);
        var thiocarbonyls = s16.Count(s => DoubleTo(s, 6));
        var phosphoryls = atoms.Count(p => Z(p) == 15 && Bonded(p, BondOrder.Double).Any(x => Z(x) is 8 or 16));

        // C=C next to an electron-withdrawing carbonyl or triple bond: a conjugate-addition electrophile
        bool Withdrawing(int x) => Carbonyl(x) || Bonded(x, BondOrder.Triple).Any();
        bool Activates(int end, int other) => m.HeavyNeighbours(end).Any(x => x != other && Withdrawing(x));
        var michaelAcceptors = m.Bonds.Count(b => Order(b.Index) == BondOrder.Double && Z(b.Begin) == 6 && Z(b.End) == 6
            && (Activates(b.Begin, b.End) || Activates(b.End, b.Begin)));
        var quaternaryNitrogens = n7.Count(n => m.Atoms[n].FormalCharge > 0 && m.HeavyDegree(n) == 4);
        var threeMemberedHeterocycles = m.Rings.Count(r => r.Count == 3 && r.Any(a => Z(a) is 7 or 8));
        var biarylBonds = m.Bonds.Count(b => !m.IsRingBond(b.Index) && Aromatic(b.Begin) && Aromatic(b.End));

        return
        [
            acids, esters, amides, ketones, aldehydes, carbamatesUreas, aliphaticHydroxyls, phenols, ethers,
            primaryAmines, secondaryAmines, tertiaryAmines, arylAmines, pyridineLike, pyrroleLike,
            nitro, nitriles, nnBonds, cnDoubleBonds, arylHalides, alkylHalides,
            sulfonyls, thiols, thioethers, thiocarbonyls, phosphoryls,
            michaelAcceptors, quaternaryNitrogens, threeMemberedHeterocycles, biarylBonds,
        ];
    }
}
