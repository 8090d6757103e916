namespace MtnnCluster.Chem;

/// <summary>RDKit's chiral tags, with RDKit's numbers.</summary>
public enum ChiralTag
{
    Unspecified = 0,
    Clockwise = 1,
    CounterClockwise = 2,
    Other = 3,
    Tetrahedral = 4,
    Allene = 5,
    SquarePlanar = 6,
    TrigonalBipyramidal = 7,
    Octahedral = 8,
}

/// <summary>RDKit's bond stereo values (the ones a SMILES can give), with RDKit's numbers.</summary>
public enum BondStereo
{
    None = 0,
    Any = 1,
    Z = 2,
    E = 3,
    Cis = 4,
    Trans = 5,
}

/// <summary>
/// RDKit's legacy stereo perception (the default of RDKit 2025.03's SMILES parser): chiral tags stay only on
/// atoms whose neighbours all rank differently (or on pairs of ring atoms that make cis/trans ring stereo), and
/// a double bond with '/' or '\' on both sides becomes E or Z from its highest-ranked marked neighbours.
/// Ranks are RDKit's approximate CIP ranks (element and isotope, refined by neighbours weighted by bond order).
/// Not done: the re-ranking that lets one assigned centre tell apart the neighbours of another (pseudo-asymmetric
/// centres), and the bridgehead-N exception.
/// </summary>
internal static class StereoPerception
{
    private const int MinRingSizeForDoubleBondStereo = 8;

    /// <summary>
    /// Re-expresses a written tag, which refers to the SMILES neighbour order, in RDKit's: the atom's bonds as
    /// RDKit numbers them (ring closures after all other bonds), then the hydrogen or lone pair.
    /// </summary>
    public static ChiralTag TagInBondOrder(Molecule m, int atom, ChiralTag written, List<int> writtenOrder)
    {
        if (written is not (ChiralTag.Clockwise or ChiralTag.CounterClockwise))
        {
            return written;
        }
        var implicitEntries = 0;
        foreach (var entry in writtenOrder)
        {
            implicitEntries += entry < 0 ? 1 : 0;
        }
        if (implicitEntries > 1)
        {
            return written; // two hydrogens: never a stereocentre, the tag is dropped later
        }
        var rdkitOrder = new List<int>(writtenOrder.Count);
        foreach (var closures in (ReadOnlySpan<bool>)[false, true])
        {
            foreach (var b in m.BondsOf(atom))
            {
                if (m.Bonds[b].IsRingClosure == closures)
                {
                    rdkitOrder.Add(m.Bonds[b].OtherAtom(atom));
                }
            }
        }
        if (implicitEntries == 1)
        {
            rdkitOrder.Add(-1);
        }
        if (rdkitOrder.Count != writtenOrder.Count)
        {
            return written;
        }
        var swaps = 0;
        for (var i = 0; i < writtenOrder.Count; i++)
        {
            for (var j = i + 1; j < writtenOrder.Count; j++)
            {
                if (rdkitOrder.IndexOf(writtenOrder[i]) > rdkitOrder.IndexOf(writtenOrder[j]))
                {
                    swaps++;
                }
            }
        }
        return swaps % 2 == 0 ? written
            : written == ChiralTag.Clockwise ? ChiralTag.CounterClockwise : ChiralTag.Clockwise;
    }

    /// <summary>Sets <see cref="Atom.ChiralTag"/> and <see cref="Bond.Stereo"/>; free when nothing stereo was written.</summary>
    public static void Assign(Molecule m)
    {
        var anyTag = false;
        foreach (var atom in m.Atoms)
        {
            anyTag |= atom.WrittenChiralTag != ChiralTag.Unspecified;
        }
        var anyDirection = false;
        foreach (var bond in m.Bonds)
        {
            anyDirection |= bond.Direction != '\0';
        }
        if (!anyTag && !anyDirection)
        {
            return;
        }
        var ranks = CipRanks(m);
        if (anyTag)
        {
            AssignAtoms(m, ranks);
        }
        if (anyDirection)
        {
            AssignBonds(m, ranks);
        }
    }

    private static void AssignAtoms(Molecule m, int[] ranks)
    {
        var assigned = new bool[m.Atoms.Count];
        foreach (var atom in m.Atoms)
        {
            var tag = atom.WrittenChiralTag;
            if (tag is ChiralTag.Unspecified or ChiralTag.Other)
            {
                continue;
            }
            if (tag is ChiralTag.SquarePlanar or ChiralTag.TrigonalBipyramidal or ChiralTag.Octahedral)
            {
                atom.ChiralTag = tag; // RDKit keeps non-tetrahedral tags as written
                continue;
            }
            if (IsLegalCentre(m, atom) && NeighborRanksDistinct(m, atom.Index, ranks))
            {
                atom.ChiralTag = tag;
                assigned[atom.Index] = true;
            }
        }
        KeepRingStereo(m, ranks, assigned);
    }

    /// <summary>RDKit's isAtomPotentialChiralCenter, before neighbour ranks are looked at.</summary>
    private static bool IsLegalCentre(Molecule m, Atom atom)
    {
        var degree = m.Degree(atom.Index);
        var hydrogens = atom.TotalHydrogens;
        if (degree + hydrogens is > 4 or < 3)
        {
            return false;
        }
        if (degree < 3)
        {
            return atom.AtomicNumber is 15 or 33; // phosphine, arsine with H (from InChI)
        }
        if (degree != 3)
        {
            return true;
        }
        if (hydrogens == 1)
        {
            foreach (var b in m.BondsOf(atom.Index))
            {
                var other = m.Atoms[m.Bonds[b].OtherAtom(atom.Index)];
                if (other.AtomicNumber == 1 && other.Isotope == 0)
                {
                    return false;
                }
            }
            return true;
        }
        return atom.AtomicNumber switch
        {
            7 => InRingOfSize(m, atom.Index, 3) && IsUnconjugatedSp3(m, atom.Index),
            15 or 33 => true,
            16 or 34 => ValenceModel.ExplicitValence(m, atom) == 4 ||
                        (ValenceModel.ExplicitValence(m, atom) == 3 && atom.FormalCharge == 1),
            _ => false,
        };
    }

    private static bool IsUnconjugatedSp3(Molecule m, int atom)
    {
        var conjugated = new bool[m.Bonds.Count];
        var hybridization = new Hybridization[m.Atoms.Count];
        ConjugationHybridization.Perceive(m, conjugated, hybridization);
        foreach (var b in m.BondsOf(atom))
        {
            if (conjugated[b])
            {
                return false;
            }
        }
        return hybridization[atom] == Hybridization.SP3;
    }

    private static bool InRingOfSize(Molecule m, int atom, int size)
    {
        foreach (var ring in m.Rings)
        {
            if (ring.Count == size && ring.Contains(atom))
            {
                return true;
            }
        }
        return false;
    }

    private static bool NeighborRanksDistinct(Molecule m, int atom, int[] ranks)
    {
        var around = m.BondsOf(atom);
        for (var i = 0; i < around.Count; i++)
        {
            for (var j = i + 1; j < around.Count; j++)
            {
                if (ranks[m.Bonds[around[i]].OtherAtom(atom)] == ranks[m.Bonds[around[j]].OtherAtom(atom)])
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>
    /// RDKit's ring-stereo special case: tagged ring atoms that failed the rank test (the two ring paths look
    /// alike) keep their tags when another such atom shares their ring system (cis/trans-1,4-disubstituted rings).
    /// </summary>
    private static void KeepRingStereo(Molecule m, int[] ranks, bool[] assigned)
    {
        var n = m.Atoms.Count;
        var system = new int[n];
        Array.Fill(system, -1);
        var systems = 0;
        var stack = new Stack<int>();
        for (var start = 0; start < n; start++)
        {
            if (system[start] >= 0 || !m.IsRingAtom(start))
            {
                continue;
            }
            system[start] = systems;
            stack.Push(start);
            while (stack.Count > 0)
            {
                var atom = stack.Pop();
                foreach (var b in m.BondsOf(atom))
                {
                    var other = m.Bonds[b].OtherAtom(atom);
                    if (m.IsRingBond(b) && system[other] < 0)
                    {
                        system[other] = systems;
                        stack.Push(other);
                    }
                }
            }
            systems++;
        }
        var candidates = new List<int>();
        var perSystem = new int[systems];
        foreach (var atom in m.Atoms)
        {
            if (atom.WrittenChiralTag is ChiralTag.Clockwise or ChiralTag.CounterClockwise && !assigned[atom.Index] &&
                m.IsRingAtom(atom.Index) && IsRingStereoCandidate(m, atom, ranks))
            {
                candidates.Add(atom.Index);
                perSystem[system[atom.Index]]++;
            }
        }
        foreach (var atom in candidates)
        {
            if (perSystem[system[atom]] >= 2)
            {
                m.Atoms[atom].ChiralTag = m.Atoms[atom].WrittenChiralTag;
            }
        }
    }

    private static bool IsRingStereoCandidate(Molecule m, Atom atom, int[] ranks)
    {
        if (atom.AtomicNumber == 7 && m.TotalDegree(atom.Index) == 3 && !InRingOfSize(m, atom.Index, 3))
        {
            return false;
        }
        var nonRing = new List<int>();
        var ringNeighbors = 0;
        var ringRanks = new HashSet<int>();
        foreach (var b in m.BondsOf(atom.Index))
        {
            var other = m.Bonds[b].OtherAtom(atom.Index);
            if (m.IsRingBond(b))
            {
                ringNeighbors++;
                ringRanks.Add(ranks[other]);
            }
            else
            {
                nonRing.Add(other);
            }
        }
        return nonRing.Count switch
        {
            2 => ranks[nonRing[0]] != ranks[nonRing[1]],
            1 => ringNeighbors >= 2,
            0 => (ringNeighbors == 4 && ringRanks.Count == 3) || (ringNeighbors == 3 && ringRanks.Count == 2),
            _ => false,
        };
    }

    /// <summary>E/Z of each double bond (outside rings smaller than 8) that has a marked single bond on both sides.</summary>
    private static void AssignBonds(Molecule m, int[] ranks)
    {
        foreach (var bond in m.Bonds)
        {
            if (bond.Order != BondOrder.Double || !DetectableRingSize(m, bond.Index))
            {
                continue;
            }
            if (m.Degree(bond.Begin) is not (2 or 3) || m.Degree(bond.End) is not (2 or 3))
            {
                continue;
            }
            var begin = MarkedNeighbor(m, bond, bond.Begin, ranks);
            var end = MarkedNeighbor(m, bond, bond.End, ranks);
            if (begin.Atom < 0 || end.Atom < 0 || begin.Conflict || end.Conflict)
            {
                continue;
            }
            // Both directions are seen from the double bond outwards: the same direction means the same side.
            bond.Stereo = begin.Direction == end.Direction ? BondStereo.Z : BondStereo.E;
        }
    }

    private static bool DetectableRingSize(Molecule m, int bond)
    {
        if (!m.IsRingBond(bond))
        {
            return true;
        }
        var smallest = int.MaxValue;
        for (var r = 0; r < m.RingBonds.Count; r++)
        {
            if (m.RingBonds[r].Contains(bond))
            {
                smallest = Math.Min(smallest, m.RingBonds[r].Count);
            }
        }
        return smallest >= MinRingSizeForDoubleBondStereo;
    }

    /// <summary>
    /// The highest-ranked neighbour on one side of a double bond and its direction outwards, when a direction is
    /// marked on that side and its two neighbours (if two) rank differently; Atom is -1 otherwise.
    /// </summary>
    private static (int Atom, char Direction, bool Conflict) MarkedNeighbor(Molecule m, Bond doubleBond, int atom,
        int[] ranks)
    {
        Span<int> neighbors = stackalloc int[2];
        Span<char> directions = stackalloc char[2];
        var count = 0;
        var marked = false;
        foreach (var b in m.BondsOf(atom))
        {
            if (b == doubleBond.Index || count == 2)
            {
                continue;
            }
            var bond = m.Bonds[b];
            var direction = bond.Direction;
            if (direction != '\0' && bond.Begin != atom)
            {
                direction = Flip(direction);
            }
            marked |= direction != '\0';
            neighbors[count] = bond.OtherAtom(atom);
            directions[count] = direction;
            count++;
        }
        if (!marked || (count == 2 && ranks[neighbors[0]] == ranks[neighbors[1]]))
        {
            return (-1, '\0', false);
        }
        if (count == 2)
        {
            if (directions[0] == '\0')
            {
                directions[0] = Flip(directions[1]);
            }
            else if (directions[1] == '\0')
            {
                directions[1] = Flip(directions[0]);
            }
            else if (directions[0] == directions[1])
            {
                return (neighbors[0], directions[0], true);
            }
        }
        var pick = count == 1 || ranks[neighbors[0]] > ranks[neighbors[1]] ? 0 : 1;
        return (neighbors[pick], directions[pick], false);
    }

    private static char Flip(char direction) => direction == '/' ? '\\' : '/';

    /// <summary>
    /// RDKit's legacy CIP ranks: atoms sorted by element and isotope, then refined by their neighbours' ranks
    /// (each repeated twice its bond order, aromatic 3) and hydrogens, for at most n/2 + 1 rounds.
    /// </summary>
    internal static int[] CipRanks(Molecule m)
    {
        var n = m.Atoms.Count;
        var entries = new List<int>[n];
        for (var i = 0; i < n; i++)
        {
            var atom = m.Atoms[i];
            var mass = 0;
            if (atom.Isotope > 0)
            {
                mass = atom.Isotope - (int)Math.Round(PeriodicTable.AtomicWeight(atom.AtomicNumber));
                if (mass >= 0)
                {
                    mass++;
                }
            }
            mass = Math.Clamp(mass + 512, 0, 1023);
            entries[i] = [((atom.AtomicNumber % 128) << 10 | mass) << 10];
        }
        var ranks = DenseRanks(entries, out var classes);
        for (var i = 0; i < n; i++)
        {
            entries[i] = [m.Atoms[i].AtomicNumber, ranks[i]];
        }
        var maxRounds = n / 2 + 1;
        var pairs = new List<(int Rank, int Count)>();
        for (var round = 0; round < maxRounds && classes < n; round++)
        {
            for (var i = 0; i < n; i++)
            {
                pairs.Clear();
                foreach (var b in m.BondsOf(i))
                {
                    var bond = m.Bonds[b];
                    var other = bond.OtherAtom(i);
                    var otherDegree = m.Degree(other);
                    var count = bond.Order == BondOrder.Double && m.Atoms[other].AtomicNumber == 15 &&
                                otherDegree is 3 or 4
                        ? 1
                        : bond.Order switch { BondOrder.Aromatic => 3, _ => 2 * (int)bond.Order };
                    pairs.Add((ranks[other], count));
                }
                pairs.Sort((x, y) => y.Rank.CompareTo(x.Rank));
                var entry = entries[i];
                foreach (var (rank, count) in pairs)
                {
                    for (var k = 0; k < count; k++)
                    {
                        entry.Add(rank + 1);
                    }
                }
                for (var k = 0; k < m.Atoms[i].TotalHydrogens; k++)
                {
                    entry.Add(0);
                }
            }
            var previous = classes;
            ranks = DenseRanks(entries, out classes);
            if (classes == previous)
            {
                break;
            }
            for (var i = 0; i < n; i++)
            {
                entries[i].RemoveRange(2, entries[i].Count - 2);
                entries[i].Add(ranks[i]);
            }
        }
        return ranks;
    }

    private static int[] DenseRanks(List<int>[] entries, out int classes)
    {
        var n = entries.Length;
        var order = new int[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }
        Array.Sort(order, (x, y) => Compare(entries[x], entries[y]));
        var ranks = new int[n];
        classes = n == 0 ? 0 : 1;
        for (var k = 1; k < n; k++)
        {
            if (Compare(entries[order[k]], entries[order[k - 1]]) != 0)
            {
                classes++;
            }
            ranks[order[k]] = classes - 1;
        }
        return ranks;
    }

    private static int Compare(List<int> x, List<int> y)
    {
        var shared = Math.Min(x.Count, y.Count);
        for (var i = 0; i < shared; i++)
        {
            if (x[i] != y[i])
            {
                return x[i].CompareTo(y[i]);
            }
        }
        return x.Count.CompareTo(y.Count);
    }
}
