namespace MtnnCluster.Chem;

/// <summary>PROVISIONAL: replaced by the full chemprop v2 featurizer.</summary>
public static class GraphFeatures
{
    public const int AtomFeatureCount = 72, BondFeatureCount = 14, AtomColumnsPerAtom = 7, BondColumnsPerBond = 4;
    public const int Version = 1;
    public static IReadOnlyList<string> AtomFeatureNames { get; } = Enumerable.Range(0, AtomFeatureCount).Select(i => $"atom{i}").ToArray();
    public static IReadOnlyList<string> BondFeatureNames { get; } = Enumerable.Range(0, BondFeatureCount).Select(i => $"bond{i}").ToArray();

    public static MoleculeGraph Of(Molecule m)
    {
        var atoms = new byte[m.Atoms.Count * 7];
        var mass = new float[m.Atoms.Count];
        for (var i = 0; i < m.Atoms.Count; i++)
        {
            var a = m.Atoms[i];
            int z = a.AtomicNumber is >= 1 and <= 36 ? a.AtomicNumber - 1 : a.AtomicNumber == 53 ? 36 : 37;
            var deg = Math.Min(m.TotalDegree(i), 6);
            int chg = a.FormalCharge switch { -1 => 0, -2 => 1, 1 => 2, 2 => 3, 0 => 4, _ => 5 };
            var hs = Math.Min(a.TotalHydrogens, 5);
            atoms[i * 7] = (byte)z; atoms[i * 7 + 1] = (byte)(38 + deg); atoms[i * 7 + 2] = (byte)(45 + chg);
            atoms[i * 7 + 3] = 51; atoms[i * 7 + 4] = (byte)(56 + hs); atoms[i * 7 + 5] = (byte)(62 + 4);
            atoms[i * 7 + 6] = a.IsAromatic ? (byte)70 : MoleculeGraph.NoColumn;
            mass[i] = (float)(0.01 * PeriodicTable.AtomicWeight(a.AtomicNumber));
        }
        var bondAtoms = new int[m.Bonds.Count * 2];
        var bonds = new byte[m.Bonds.Count * 4];
        for (var b = 0; b < m.Bonds.Count; b++)
        {
            var bond = m.Bonds[b];
            bondAtoms[2 * b] = bond.Begin; bondAtoms[2 * b + 1] = bond.End;
            bonds[4 * b] = bond.Order switch { BondOrder.Single => 1, BondOrder.Double => 2, BondOrder.Triple => 3, _ => 4 };
            bonds[4 * b + 1] = bond.IsAromatic ? (byte)5 : MoleculeGraph.NoColumn;
            bonds[4 * b + 2] = m.IsRingBond(b) ? (byte)6 : MoleculeGraph.NoColumn;
            bonds[4 * b + 3] = 7;
        }
        return new MoleculeGraph(atoms, mass, bondAtoms, bonds);
    }
}
