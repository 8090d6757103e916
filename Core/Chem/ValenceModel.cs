using static MtnnCluster.Chem.PeriodicTable;

namespace MtnnCluster.Chem;

/// <summary>
/// RDKit's valence model: which valences an atom may have, how many hydrogens are implied,
/// and which atoms are radicals. A charge makes an atom behave like its isoelectronic
/// neighbour in the table (N+ like C, O- like F), except for elements that take any valence.
/// </summary>
internal static class ValenceModel
{
    /// <summary>Aromatic by flag or through an aromatic bond.</summary>
    public static bool IsAromaticLike(Molecule m, Atom atom)
    {
        if (atom.IsAromatic)
        {
            return true;
        }
        foreach (var b in m.BondsOf(atom.Index))
        {
            if (m.Bonds[b].IsAromatic)
            {
                return true;
            }
        }
        return false;
    }

    private static int EffectiveAtomicNumber(Atom atom)
    {
        var own = Valences(atom.AtomicNumber);
        return own.Count == 1 && own[0] == AnyValence
            ? atom.AtomicNumber
            : Math.Clamp(atom.AtomicNumber - atom.FormalCharge, 0, MaxAtomicNumber);
    }

    /// <summary>
    /// Bond orders (aromatic counting 1.5) plus explicit hydrogens, rounded. An aromatic atom
    /// over its default valence is snapped down to the nearest allowed valence within 1.5, since
    /// its Kekulé form may well have it (the N of c1cccn1C sums to 4 but is trivalent).
    /// </summary>
    public static int ExplicitValence(Molecule m, Atom atom, bool strict = false)
    {
        double sum = atom.ExplicitHydrogens;
        foreach (var b in m.BondsOf(atom.Index))
        {
            sum += m.Bonds[b].ValenceContribution;
        }
        var effective = EffectiveAtomicNumber(atom);
        var defaultValence = DefaultValence(effective);
        var allowed = Valences(effective);
        if (sum > defaultValence && IsAromaticLike(m, atom))
        {
            var nearest = defaultValence;
            foreach (var v in allowed)
            {
                if (v == AnyValence || v > sum)
                {
                    break;
                }
                nearest = v;
            }
            if (sum - nearest <= 1.5)
            {
                sum = nearest;
            }
        }
        // Half-integer sums (C1ccccC1) round up; the 0.1 keeps Math.Round away from ties.
        var valence = (int)Math.Round(sum + 0.1);
        if (strict)
        {
            CheckMaximum(atom, effective, valence);
        }
        return valence;
    }

    /// <summary>Explicit valence plus implicit hydrogens.</summary>
    public static int TotalValence(Molecule m, Atom atom) => ExplicitValence(m, atom) + atom.ImplicitHydrogens;

    /// <summary>
    /// Checks every atom's valence and sets the implicit hydrogens of the atoms written without
    /// brackets: the lowest allowed valence at or above the bonds already there (aromatic atoms
    /// may only fill up to their default valence).
    /// </summary>
    public static void AssignImplicitHydrogens(Molecule m)
    {
        foreach (var atom in m.Atoms)
        {
            var explicitValence = ExplicitValence(m, atom, strict: true);
            atom.ImplicitHydrogens = atom.IsBracket ? 0 : ImpliedHydrogens(m, atom, explicitValence);
        }
    }

    private static void CheckMaximum(Atom atom, int effective, int valence)
    {
        var own = Valences(atom.AtomicNumber);
        var maximum = Valences(effective)[^1];
        var offset = 0;
        if (CanBeHypervalent(atom.AtomicNumber, effective))
        {
            maximum = own[^1];
            offset = -atom.FormalCharge;
        }
        if (atom.AtomicNumber == 1 && atom.FormalCharge == -1)
        {
            maximum = 2; // bridging hydrides, accepted by RDKit
        }
        if (maximum >= 0 && own[^1] >= 0 && valence + offset > maximum)
        {
            throw new InvalidStructureException(atom.Index, $"valence {valence} is more than allowed");
        }
    }

    private static int ImpliedHydrogens(Molecule m, Atom atom, int explicitValence)
    {
        var effective = EffectiveAtomicNumber(atom);
        if (effective == 0)
        {
            return 0;
        }
        var defaultValence = DefaultValence(effective);
        if (defaultValence == AnyValence)
        {
            return 0;
        }
        var valence = explicitValence;
        if (CanBeHypervalent(atom.AtomicNumber, effective))
        {
            effective = atom.AtomicNumber;
            valence -= atom.FormalCharge;
        }
        var allowed = Valences(effective);
        if (IsAromaticLike(m, atom))
        {
            if (valence <= defaultValence)
            {
                return defaultValence - valence;
            }
            if (!allowed.Any(v => v > 0 && v == valence))
            {
                throw new InvalidStructureException(atom.Index, $"aromatic atom with impossible valence {valence}");
            }
            return 0;
        }
        foreach (var v in allowed)
        {
            if (v < 0)
            {
                break;
            }
            if (valence <= v)
            {
                return v - valence;
            }
        }
        if (allowed[^1] != AnyValence && Valences(atom.AtomicNumber)[^1] > 0)
        {
            throw new InvalidStructureException(atom.Index, $"valence {valence} is more than allowed");
        }
        return 0;
    }

    // Negatively charged P, S, As and Se keep their hypervalent forms instead of behaving like Cl/Br.
    private static bool CanBeHypervalent(int atomicNumber, int effective) =>
        (effective > 16 && atomicNumber is 15 or 16) || (effective > 34 && atomicNumber is 33 or 34);

    /// <summary>
    /// Unpaired electrons of bracket atoms left short of a full shell ([O] in TEMPO, [CH3]);
    /// atoms of elements that take any valence are radicals only when isolated with odd electrons.
    /// </summary>
    public static void AssignRadicals(Molecule m)
    {
        foreach (var atom in m.Atoms)
        {
            if (!atom.IsBracket)
            {
                continue;
            }
            var allowed = Valences(atom.AtomicNumber);
            var charge = atom.FormalCharge;
            var outer = OuterElectrons(atom.AtomicNumber);
            if (allowed.Count == 1 && allowed[0] == AnyValence)
            {
                atom.RadicalElectrons = m.Degree(atom.Index) > 0 ? 0 : Math.Max(outer - charge, 0) % 2;
                continue;
            }
            var valence = ExplicitValence(m, atom);
            var shell = atom.AtomicNumber <= 2 ? 2 : 8;
            var radicals = shell - outer - valence + charge;
            if (radicals < 0)
            {
                radicals = 0;
                if (allowed.Count > 1)
                {
                    foreach (var v in allowed)
                    {
                        if (v - valence + charge >= 0)
                        {
                            radicals = v - valence + charge;
                            break;
                        }
                    }
                }
            }
            var earlyElementRadicals = outer - valence - charge;
            if (earlyElementRadicals >= 0)
            {
                radicals = Math.Min(radicals, earlyElementRadicals);
            }
            atom.RadicalElectrons = radicals;
        }
    }
}
