using System.Diagnostics.CodeAnalysis;

namespace MtnnCluster.Chem;

/// <summary>
/// Parses SMILES into a sanitized <see cref="Molecule"/>: hydrogens counted, valences checked,
/// aromatic input kekulized and aromaticity perceived again, all after RDKit's rules, so that a
/// molecule RDKit rejects is rejected here too and Kekulé and aromatic spellings agree.
/// </summary>
public static class SmilesParser
{
    /// <exception cref="SmilesException">The SMILES is malformed or chemically impossible.</exception>
    public static Molecule Parse(string smiles)
    {
        if (smiles is null)
        {
            throw new SmilesException(0, "no SMILES given");
        }
        var tokens = SmilesReader.Read(smiles);
        var molecule = Build(tokens, out var positions);
        try
        {
            MoleculeSanitizer.Sanitize(molecule);
            StereoPerception.Assign(molecule);
        }
        catch (InvalidStructureException e)
        {
            var atom = molecule.Atoms[e.Atom];
            throw new SmilesException(positions[e.Atom], $"atom {atom.Symbol} (#{e.Atom}): {e.Message}");
        }
        return molecule;
    }

    public static bool TryParse(string? smiles, [NotNullWhen(true)] out Molecule? molecule,
        [NotNullWhen(false)] out string? error)
    {
        try
        {
            molecule = Parse(smiles!);
            error = null;
            return true;
        }
        catch (SmilesException e)
        {
            molecule = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Turns tokens into atoms and bonds. Plain [H] atoms hanging off one heavy atom are folded
    /// into its hydrogen count, as RDKit does; isotopic, charged or bridging hydrogens stay atoms.
    /// </summary>
    private static Molecule Build(SmilesTokens tokens, out int[] positions)
    {
        var (atomTokens, bondTokens) = (tokens.Atoms, tokens.Bonds);
        var degree = new int[atomTokens.Count];
        foreach (var bond in bondTokens)
        {
            degree[bond.Begin]++;
            degree[bond.End]++;
        }
        var foldInto = new int[atomTokens.Count];
        Array.Fill(foldInto, -1);
        var extraHydrogens = new int[atomTokens.Count];
        foreach (var bond in bondTokens)
        {
            if (bond.Order is not (null or BondOrder.Single))
            {
                continue;
            }
            foreach (var (hydrogen, heavy) in new[] { (bond.Begin, bond.End), (bond.End, bond.Begin) })
            {
                if (IsPlainHydrogen(atomTokens[hydrogen]) && degree[hydrogen] == 1 &&
                    atomTokens[heavy].AtomicNumber != 1)
                {
                    foldInto[hydrogen] = heavy;
                    extraHydrogens[heavy]++;
                }
            }
        }

        var newIndex = new int[atomTokens.Count];
        var atoms = new List<Atom>();
        var atomPositions = new List<int>();
        for (var i = 0; i < atomTokens.Count; i++)
        {
            if (foldInto[i] >= 0)
            {
                newIndex[i] = -1;
                continue;
            }
            var t = atomTokens[i];
            newIndex[i] = atoms.Count;
            atoms.Add(new Atom(atoms.Count, t.AtomicNumber, t.Isotope, t.Charge, t.Hydrogens + extraHydrogens[i],
                t.Aromatic, t.Bracket));
            atomPositions.Add(t.Position);
        }
        var bonds = new List<Bond>();
        foreach (var t in bondTokens)
        {
            if (foldInto[t.Begin] >= 0 || foldInto[t.End] >= 0)
            {
                continue;
            }
            var (begin, end) = (newIndex[t.Begin], newIndex[t.End]);
            var order = t.Order ?? (atoms[begin].IsAromatic && atoms[end].IsAromatic ? BondOrder.Aromatic : BondOrder.Single);
            bonds.Add(new Bond(bonds.Count, begin, end, order) { Direction = t.Direction, RingNumber = t.RingNumber });
        }
        positions = atomPositions.ToArray();
        var molecule = new Molecule(atoms, bonds);
        for (var i = 0; i < atomTokens.Count; i++)
        {
            if (newIndex[i] >= 0 && atomTokens[i].Chirality != ChiralTag.Unspecified)
            {
                atoms[newIndex[i]].WrittenChiralTag = StereoPerception.TagInBondOrder(molecule, newIndex[i],
                    atomTokens[i].Chirality, WrittenNeighbors(tokens, i, foldInto, newIndex),
                    firstWritten: !tokens.HasPreceding[i], atomTokens[i].Hydrogens);
            }
        }
        return molecule;
    }

    /// <summary>
    /// The atom's neighbours in the order '@' refers to (preceding atom, ring closures, the rest), as new atom
    /// indices, with -1 for a written [H] atom that was folded into the atom's hydrogen count.
    /// </summary>
    private static List<int> WrittenNeighbors(SmilesTokens tokens, int atom, int[] foldInto, int[] newIndex)
    {
        var order = new List<int>();
        foreach (var neighbor in tokens.NeighborOrder[atom]!)
        {
            order.Add(neighbor >= 0 && foldInto[neighbor] < 0 ? newIndex[neighbor] : -1);
        }
        return order;
    }

    private static bool IsPlainHydrogen(AtomToken t) =>
        t.AtomicNumber == 1 && t.Isotope == 0 && t.Charge == 0 && t.Hydrogens == 0;
}
