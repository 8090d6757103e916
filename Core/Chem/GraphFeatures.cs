using System.Globalization;

namespace MtnnCluster.Chem;

/// <summary>
/// chemprop v2's default atom and bond features (MultiHotAtomFeaturizer.v2, MultiHotBondFeaturizer), computed
/// from a parsed <see cref="Molecule"/> with RDKit's definitions. Atom: atomic number (1..36, 53, unknown), total
/// degree (0..5, unknown), formal charge (-1, -2, 1, 2, 0, unknown), chiral tag (RDKit's 0..3, unknown), total H
/// (0..4, unknown), hybridization (S, SP, SP2, SP2D, SP3, SP3D, SP3D2, unknown), aromatic, 0.01 × mass.
/// Bond: "no bond" (always 0 here), type (single, double, triple, aromatic), conjugated, in ring, stereo
/// (RDKit's 0..5, unknown).
/// </summary>
public static class GraphFeatures
{
    /// <summary>Named by checkpoints: a change to any column's meaning must raise it.</summary>
    public const int Version = 1;

    public const int AtomFeatureCount = 72, BondFeatureCount = 14, AtomColumnsPerAtom = 7, BondColumnsPerBond = 4;

    internal const int AtomicNumberColumn = 0, DegreeColumn = 38, ChargeColumn = 45, ChiralColumn = 51,
        HydrogenColumn = 56, HybridizationColumn = 62, AromaticColumn = 70, MassColumn = 71;

    internal const int NoBondColumn = 0, BondTypeColumn = 1, ConjugatedColumn = 5, RingColumn = 6, StereoColumn = 7;

    private const int KnownAtomicNumbers = 37, MaxDegree = 5, KnownChiralTags = 4, MaxHydrogens = 4,
        KnownHybridizations = 7, KnownStereos = 6;

    private static readonly int[] Charges = [-1, -2, 1, 2, 0];

    private static readonly Hybridization[] Hybridizations =
    [
        Hybridization.S, Hybridization.SP, Hybridization.SP2, Hybridization.SP2D, Hybridization.SP3,
        Hybridization.SP3D, Hybridization.SP3D2,
    ];

    public static IReadOnlyList<string> AtomFeatureNames { get; } = BuildAtomNames();

    public static IReadOnlyList<string> BondFeatureNames { get; } = BuildBondNames();

    public static MoleculeGraph Of(Molecule molecule)
    {
        ArgumentNullException.ThrowIfNull(molecule);
        var atoms = molecule.Atoms;
        var bonds = molecule.Bonds;
        var atomCount = atoms.Count;
        var bondCount = bonds.Count;
        var conjugated = bondCount <= 512 ? stackalloc bool[bondCount] : new bool[bondCount];
        var hybridization = atomCount <= 512 ? stackalloc Hybridization[atomCount] : new Hybridization[atomCount];
        ConjugationHybridization.Perceive(molecule, conjugated, hybridization);

        var atomColumns = new byte[atomCount * AtomColumnsPerAtom];
        var mass = new float[atomCount];
        for (var i = 0; i < atomCount; i++)
        {
            var atom = atoms[i];
            var row = atomColumns.AsSpan(i * AtomColumnsPerAtom, AtomColumnsPerAtom);
            row[0] = (byte)(AtomicNumberColumn + AtomicNumberIndex(atom.AtomicNumber));
            row[1] = (byte)(DegreeColumn + Math.Min(molecule.TotalDegree(i), MaxDegree + 1));
            row[2] = (byte)(ChargeColumn + ChargeIndex(atom.FormalCharge));
            var tag = (int)atom.ChiralTag;
            row[3] = (byte)(ChiralColumn + (tag < KnownChiralTags ? tag : KnownChiralTags));
            row[4] = (byte)(HydrogenColumn + Math.Min(atom.TotalHydrogens, MaxHydrogens + 1));
            row[5] = (byte)(HybridizationColumn + HybridizationIndex(hybridization[i]));
            row[6] = atom.IsAromatic ? (byte)AromaticColumn : MoleculeGraph.NoColumn;
            mass[i] = (float)(0.01 * Mass(atom));
        }

        var bondAtoms = new int[bondCount * 2];
        var bondColumns = new byte[bondCount * BondColumnsPerBond];
        for (var b = 0; b < bondCount; b++)
        {
            var bond = bonds[b];
            bondAtoms[2 * b] = bond.Begin;
            bondAtoms[2 * b + 1] = bond.End;
            var row = bondColumns.AsSpan(b * BondColumnsPerBond, BondColumnsPerBond);
            row[0] = bond.Order switch
            {
                BondOrder.Single => BondTypeColumn,
                BondOrder.Double => BondTypeColumn + 1,
                BondOrder.Triple => BondTypeColumn + 2,
                BondOrder.Aromatic => BondTypeColumn + 3,
                _ => MoleculeGraph.NoColumn, // chemprop sets no type bit for other types
            };
            row[1] = conjugated[b] ? (byte)ConjugatedColumn : MoleculeGraph.NoColumn;
            row[2] = molecule.IsRingBond(b) ? (byte)RingColumn : MoleculeGraph.NoColumn;
            var stereo = (int)bond.Stereo;
            row[3] = (byte)(StereoColumn + (stereo < KnownStereos ? stereo : KnownStereos));
        }
        return new MoleculeGraph(atomCount, bondCount, atomColumns, mass, bondAtoms, bondColumns);
    }

    /// <summary>RDKit's GetMass: the isotope's mass when one is written, else the standard atomic weight.</summary>
    internal static double Mass(Atom atom) => atom.Isotope > 0
        ? PeriodicTable.IsotopeMass(atom.AtomicNumber, atom.Isotope)
        : PeriodicTable.AtomicWeight(atom.AtomicNumber);

    private static int AtomicNumberIndex(int z) => z switch
    {
        >= 1 and <= 36 => z - 1,
        53 => 36,
        _ => KnownAtomicNumbers,
    };

    private static int ChargeIndex(int charge)
    {
        for (var k = 0; k < Charges.Length; k++)
        {
            if (Charges[k] == charge)
            {
                return k;
            }
        }
        return Charges.Length;
    }

    private static int HybridizationIndex(Hybridization h)
    {
        for (var k = 0; k < Hybridizations.Length; k++)
        {
            if (Hybridizations[k] == h)
            {
                return k;
            }
        }
        return KnownHybridizations;
    }

    private static string[] BuildAtomNames()
    {
        var names = new List<string>(AtomFeatureCount);
        for (var z = 1; z <= 36; z++)
        {
            names.Add("atom:" + PeriodicTable.Symbol(z));
        }
        names.Add("atom:I");
        names.Add("atom:other");
        for (var d = 0; d <= MaxDegree; d++)
        {
            names.Add("degree:" + d.ToString(CultureInfo.InvariantCulture));
        }
        names.Add("degree:other");
        foreach (var c in Charges)
        {
            names.Add("charge:" + c.ToString("+0;-0;0", CultureInfo.InvariantCulture));
        }
        names.Add("charge:other");
        names.AddRange(["chiral:unspecified", "chiral:cw", "chiral:ccw", "chiral:other-tag", "chiral:other"]);
        for (var h = 0; h <= MaxHydrogens; h++)
        {
            names.Add("hydrogens:" + h.ToString(CultureInfo.InvariantCulture));
        }
        names.Add("hydrogens:other");
        foreach (var h in Hybridizations)
        {
            names.Add("hybridization:" + h);
        }
        names.Add("hybridization:other");
        names.Add("aromatic");
        names.Add("mass/100");
        return [.. names];
    }

    private static string[] BuildBondNames() =>
    [
        "no-bond", "bond:single", "bond:double", "bond:triple", "bond:aromatic", "conjugated", "in-ring",
        "stereo:none", "stereo:any", "stereo:z", "stereo:e", "stereo:cis", "stereo:trans", "stereo:other",
    ];
}
