namespace MtnnCluster.Chem;

/// <summary>
/// One atom of a <see cref="Molecule"/>. Hydrogens are not atoms unless they had to stay
/// explicit (isotopes, charged or bridging H); the rest are counted on their heavy atom.
/// </summary>
public sealed class Atom
{
    internal Atom(int index, int atomicNumber, int isotope, int formalCharge, int explicitHydrogens, bool isAromatic,
        bool isBracket)
    {
        Index = index;
        AtomicNumber = atomicNumber;
        Isotope = isotope;
        FormalCharge = formalCharge;
        ExplicitHydrogens = explicitHydrogens;
        IsAromatic = isAromatic;
        IsBracket = isBracket;
    }

    public int Index { get; }

    public int AtomicNumber { get; }

    public string Symbol => PeriodicTable.Symbol(AtomicNumber);

    /// <summary>Mass number written in the SMILES, or 0 when none was given.</summary>
    public int Isotope { get; }

    public int FormalCharge { get; internal set; }

    /// <summary>Hydrogens written in a bracket atom, plus explicit [H] atoms merged into this one.</summary>
    public int ExplicitHydrogens { get; internal set; }

    /// <summary>Hydrogens implied by the default valence (always 0 for bracket atoms).</summary>
    public int ImplicitHydrogens { get; internal set; }

    public int TotalHydrogens => ExplicitHydrogens + ImplicitHydrogens;

    public bool IsAromatic { get; internal set; }

    /// <summary>Written in square brackets: its hydrogen count is fixed, none are implied.</summary>
    public bool IsBracket { get; }

    public int RadicalElectrons { get; internal set; }

    /// <summary>
    /// RDKit's chiral tag, relative to the order of the atom's bonds in RDKit's numbering (the SMILES's bonds,
    /// then ring closures by ring-closure number); cleared on atoms that are not stereocentres.
    /// </summary>
    public ChiralTag ChiralTag { get; internal set; }

    /// <summary>The tag as written (already in RDKit's bond order), before stereocentres are checked.</summary>
    internal ChiralTag WrittenChiralTag { get; set; }

    public override string ToString() => $"{(IsAromatic ? Symbol.ToLowerInvariant() : Symbol)}{Index}";
}
