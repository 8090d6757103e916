namespace MtnnCluster.Chem;

/// <summary>A chemically impossible structure, found at one atom while sanitizing.</summary>
internal sealed class InvalidStructureException(int atom, string reason) : Exception(reason)
{
    public int Atom { get; } = atom;
}

/// <summary>
/// RDKit's sanitization, in its order: charge-separate hypervalent N/P/halogen spellings, check
/// valences and add implicit hydrogens, kekulize aromatic input, find radicals, then perceive
/// aromaticity afresh, so that aromatic and Kekulé spellings end up as the same molecule.
/// </summary>
internal static class MoleculeSanitizer
{
    /// <exception cref="InvalidStructureException">A valence is impossible or the aromatic input cannot be kekulized.</exception>
    public static void Sanitize(Molecule m)
    {
        ChargeSeparation.Apply(m);
        ValenceModel.AssignImplicitHydrogens(m);
        Kekulizer.Kekulize(m);
        ValenceModel.AssignRadicals(m);
        AromaticityPerception.Perceive(m);
    }
}
