namespace MtnnCluster.Chem;

/// <summary>
/// A molecule's identity, for matching the rows of several data files: the canonical form of its whole graph
/// (<see cref="CanonicalGraph"/>, the same ranking the scaffold keys use), each atom labelled by isotope, element,
/// aromaticity, charge, hydrogen count and radical electrons. The project has no canonical SMILES writer; this key
/// is equal for any two spellings of one molecule (atom order, ring-closure digits, Kekulé or aromatic rings, explicit
/// or implied hydrogens) and is not a SMILES. The key leaves out stereo (chiral tags, E/Z), so stereoisomers share a
/// key, as they share a fingerprint.
/// </summary>
public static class MoleculeKey
{
    public static string Of(Molecule m) =>
        CanonicalGraph.Key(m, Enumerable.Range(0, m.Atoms.Count).ToArray(), [.. m.Bonds], Label);

    private static string Label(Atom atom)
    {
        var symbol = atom.IsAromatic ? atom.Symbol.ToLowerInvariant() : atom.Symbol;
        var isotope = atom.Isotope == 0 ? "" : atom.Isotope.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var charge = atom.FormalCharge == 0 ? "" : atom.FormalCharge.ToString("+0;-0", System.Globalization.CultureInfo.InvariantCulture);
        var radicals = atom.RadicalElectrons == 0 ? "" : $"^{atom.RadicalElectrons}";
        return $"{isotope}{symbol}{charge}H{atom.TotalHydrogens}{radicals}";
    }
}
