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
/// legal centres whose neighbours all rank differently (or on pairs of ring atoms that make cis/trans ring
/// stereo), and a double bond with '/' or '\' on both sides becomes E or Z from its highest-ranked neighbours.
/// Ranks are RDKit's approximate CIP ranks (element and isotope, refined by neighbours weighted by bond order),
/// refined again after each round of assignments, as RDKit does, so that pseudo-asymmetric centres are told apart.
/// </summary>
internal static class StereoPerception
{
    private const int MinRingSizeForDoubleBondStereo = 8;

    /// <summary>
    /// Re-expresses a written tag, which refers to the SMILES neighbour order, in RDKit's: the atom's bonds as
    /// RDKit numbers them (ring closures after all other bonds), a folded [H] last. As RDKit's SMILES parser, a
    /// three-neighbour centre takes one more swap when it starts the SMILES with one bracket H, or has no H, one
    /// ring closure and only single bonds.
    /// </summary>
    public static ChiralTag TagInBondOrder(Molecule m, int atom, ChiralTag written, List<int> writtenOrder,
        bool firstWritten, int bracketHydrogens)
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
        foreach (var b in RdkitBondOrder(m, atom))
        {
            rdkitOrder.Add(m.Bonds[b].OtherAtom(atom));
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
        if (writtenOrder.Count == 3)
        {
            var closures = 0;
            var unsaturated = false;
            foreach (var b in m.BondsOf(atom))
            {
                closures += m.Bonds[b].RingNumber >= 0 ? 1 : 0;
                unsaturated |= m.Bonds[b].Order != BondOrder.Single;
            }
            if ((firstWritten && bracketHydrogens == 1) ||
                (bracketHydrogens == 0 && closures == 1 && !unsaturated))
            {
                swaps++;
            }
        }
        return swaps % 2 == 0 ? written
            : written == ChiralTag.Clockwise ? ChiralTag.CounterClockwise : ChiralTag.Clockwise;
    }

    /// <summary>The atom's bonds in RDKit's numbering: as written, then ring closures by ring-closure number.</summary>
    private static List<int> RdkitBondOrder(Molecule m, int atom)
    {
        var order = new List<int>();
        var closures = new List<int>();
        foreach (var b in m.BondsOf(atom))
        {
            (m.Bonds[b].RingNumber < 0 ? order : closures).Add(b);
        }
        if (closures.Count > 1)
        {
            closures.Sort((x, y) => m.Bonds[x].RingNumber != m.Bonds[y].RingNumber
                ? m.Bonds[x].RingNumber.CompareTo(m.Bonds[y].RingNumber)
                : x.CompareTo(y));
        }
        order.AddRange(closures);
        return order;
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
        var n = m.Atoms.Count;
        var invariants = new long[n];
        for (var i = 0; i < n; i++)
        {
            invariants[i] = ElementInvariant(m.Atoms[i]);
        }
        var ranks = CipRanks(m, invariants, seededWithInvariants: false);
        // 0: no CIP code yet; 10 S, 20 R (RDKit's weights when it re-ranks with them)
        var cipCodes = new int[n];
        var atomsPending = anyTag;
        var bondsPending = anyDirection;
        // As RDKit's legacy loop: assigned centres and bonds re-rank the atoms, which may tell apart the
        // neighbours of a centre still pending (pseudo-asymmetric centres, as in ribitol's C3).
        while (true)
        {
            var atomsChanged = false;
            var bondsChanged = false;
            if (atomsPending)
            {
                (atomsPending, atomsChanged) = AssignAtomCodes(m, ranks, cipCodes);
            }
            if (bondsPending)
            {
                (bondsPending, bondsChanged) = AssignBonds(m, ranks);
            }
            if (!(atomsPending || bondsPending) || !(atomsChanged || bondsChanged))
            {
                break;
            }
            ranks = Rerank(m, ranks, cipCodes);
        }
        if (!anyTag)
        {
            return;
        }
        var assigned = new bool[n];
        foreach (var atom in m.Atoms)
        {
            var tag = atom.WrittenChiralTag;
            if (tag is ChiralTag.SquarePlanar or ChiralTag.TrigonalBipyramidal or ChiralTag.Octahedral)
            {
                atom.ChiralTag = tag; // RDKit keeps non-tetrahedral tags as written
            }
            else if (cipCodes[atom.Index] != 0)
            {
                atom.ChiralTag = tag;
                assigned[atom.Index] = true;
            }
        }
        KeepRingStereo(m, ranks, assigned);
    }

    /// <summary>
    /// RDKit's assignAtomChiralCodes: a tagged legal centre whose neighbours all rank differently gets its CIP
    /// code. Returns whether legal centres are still without one, and whether any got one now.
    /// </summary>
    private static (bool Pending, bool Changed) AssignAtomCodes(Molecule m, int[] ranks, int[] cipCodes)
    {
        var pending = 0;
        var changed = false;
        foreach (var atom in m.Atoms)
        {
            var tag = atom.WrittenChiralTag;
            if (tag is ChiralTag.Unspecified or ChiralTag.Other || cipCodes[atom.Index] != 0 || !IsLegalCentre(m, atom))
            {
                continue;
            }
            if (!NeighborRanksDistinct(m, atom.Index, ranks))
            {
                pending++;
                continue;
            }
            changed = true;
            // The code follows from the tag and the parity of sorting the neighbours (RDKit's bond order) by rank.
            var order = RdkitBondOrder(m, atom.Index);
            var swaps = 0;
            for (var i = 0; i < order.Count; i++)
            {
                for (var j = i + 1; j < order.Count; j++)
                {
                    if (ranks[m.Bonds[order[i]].OtherAtom(atom.Index)] > ranks[m.Bonds[order[j]].OtherAtom(atom.Index)])
                    {
                        swaps++;
                    }
                }
            }
            if (order.Count == 3 && atom.TotalHydrogens == 1)
            {
                swaps++;
            }
            var counterClockwise = (tag == ChiralTag.CounterClockwise) == (swaps % 2 == 0);
            cipCodes[atom.Index] = counterClockwise ? 10 : 20;
        }
        return (pending > 0, changed);
    }

    /// <summary>RDKit's rerankAtoms: ranks refined again from old rank, CIP code and E/Z double bonds.</summary>
    private static int[] Rerank(Molecule m, int[] ranks, int[] cipCodes)
    {
        var n = m.Atoms.Count;
        long factor = 100;
        while (factor < n)
        {
            factor *= 10;
        }
        var invariants = new long[n];
        for (var i = 0; i < n; i++)
        {
            invariants[i] = ranks[i] * factor + cipCodes[i];
            foreach (var b in m.BondsOf(i))
            {
                var bond = m.Bonds[b];
                if (bond.Order == BondOrder.Double)
                {
                    invariants[i] += bond.Stereo == BondStereo.E ? 1 : bond.Stereo == BondStereo.Z ? 2 : 0;
                }
            }
        }
        return CipRanks(m, invariants, seededWithInvariants: true);
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
            7 => (InRingOfSize(m, atom.Index, 3) || IsBridgehead(m, atom.Index)) && IsUnconjugatedSp3(m, atom.Index),
            15 or 33 => true,
            16 or 34 => ConjugationHybridization.KekuleValence(m, atom) == 4 ||
                        (ConjugationHybridization.KekuleValence(m, atom) == 3 && atom.FormalCharge == 1),
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

    /// <summary>
    /// RDKit's bridgehead test: three or more ring bonds, and every ring through the atom shares at least two bonds
    /// with another ring through it (quinuclidine's N, not a fused-ring atom).
    /// </summary>
    private static bool IsBridgehead(Molecule m, int atom)
    {
        var around = m.BondsOf(atom);
        if (around.Count < 3)
        {
            return false;
        }
        var ringBonds = 0;
        foreach (var b in around)
        {
            ringBonds += m.IsRingBond(b) ? 1 : 0;
        }
        if (ringBonds < 3)
        {
            return false;
        }
        var rings = m.RingBonds;
        var overlapping = new bool[rings.Count];
        for (var i = 0; i < rings.Count; i++)
        {
            if (!TouchesAtom(m, rings[i], atom))
            {
                continue;
            }
            for (var j = i + 1; j < rings.Count; j++)
            {
                if (TouchesAtom(m, rings[j], atom) && rings[i].Intersect(rings[j]).Count() >= 2)
                {
                    overlapping[i] = overlapping[j] = true;
                }
            }
            if (!overlapping[i])
            {
                return false;
            }
        }
        return true;
    }

    private static bool TouchesAtom(Molecule m, IReadOnlyList<int> ringBonds, int atom)
    {
        foreach (var b in ringBonds)
        {
            if (m.Bonds[b].Begin == atom || m.Bonds[b].End == atom)
            {
                return true;
            }
        }
        return false;
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
        if (atom.AtomicNumber == 7 && m.TotalDegree(atom.Index) == 3 && !InRingOfSize(m, atom.Index, 3) &&
            !IsBridgehead(m, atom.Index))
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

    /// <summary>
    /// E/Z of each double bond (outside rings smaller than 8) that has a marked single bond on both sides.
    /// Returns whether candidate bonds are still unmarked, and whether any was decided now.
    /// </summary>
    private static (bool Pending, bool Changed) AssignBonds(Molecule m, int[] ranks)
    {
        var pending = 0;
        var changed = false;
        List<int>? clear = null;
        foreach (var bond in m.Bonds)
        {
            if (bond.Order != BondOrder.Double || bond.Stereo != BondStereo.None || !DetectableRingSize(m, bond.Index))
            {
                continue;
            }
            if (m.Degree(bond.Begin) is not (2 or 3) || m.Degree(bond.End) is not (2 or 3))
            {
                continue;
            }
            var begin = MarkedNeighbor(m, bond, bond.Begin, ranks);
            var end = MarkedNeighbor(m, bond, bond.End, ranks);
            if (begin.Atom < 0 || end.Atom < 0)
            {
                pending++;
                continue;
            }
            changed = true;
            if (begin.Conflict || end.Conflict)
            {
                // RDKit drops both directions of a side marked twice the same way
                (clear ??= []).AddRange(SideBonds(m, bond, begin.Conflict ? bond.Begin : -1));
                clear.AddRange(SideBonds(m, bond, end.Conflict ? bond.End : -1));
                continue;
            }
            // Both directions are seen from the double bond outwards: the same direction means the same side.
            bond.Stereo = begin.Direction == end.Direction ? BondStereo.Z : BondStereo.E;
        }
        foreach (var b in clear ?? [])
        {
            m.Bonds[b].Direction = '\0';
        }
        return (pending > 0, changed);
    }

    private static IEnumerable<int> SideBonds(Molecule m, Bond doubleBond, int atom)
    {
        if (atom < 0)
        {
            yield break;
        }
        foreach (var b in m.BondsOf(atom))
        {
            if (b != doubleBond.Index)
            {
                yield return b;
            }
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

    /// <summary>RDKit's buildCIPInvariants: element, then the isotope's offset from the common one.</summary>
    private static long ElementInvariant(Atom atom)
    {
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
        return (long)((atom.AtomicNumber % 128) << 10 | mass) << 10;
    }

    /// <summary>
    /// RDKit's iterateCIPRanks: atoms sorted by their invariants, then refined by their neighbours' ranks (each
    /// repeated twice its bond order, aromatic 3) and hydrogens, for at most n/2 + 1 rounds. Unseeded, the
    /// entries start from the element and the invariants' rank; seeded, from the invariants themselves.
    /// </summary>
    internal static int[] CipRanks(Molecule m, long[] invariants, bool seededWithInvariants)
    {
        var n = m.Atoms.Count;
        var entries = new List<long>[n];
        for (var i = 0; i < n; i++)
        {
            entries[i] = [invariants[i]];
        }
        var ranks = DenseRanks(entries, out var classes);
        var keep = seededWithInvariants ? 1 : 2;
        if (!seededWithInvariants)
        {
            for (var i = 0; i < n; i++)
            {
                entries[i] = [m.Atoms[i].AtomicNumber, ranks[i]];
            }
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
                entries[i].RemoveRange(keep, entries[i].Count - keep);
                entries[i].Add(ranks[i]);
            }
        }
        return ranks;
    }

    private static int[] DenseRanks(List<long>[] entries, out int classes)
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

    private static int Compare(List<long> x, List<long> y)
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
