namespace MtnnCluster.Chem;

/// <summary>
/// Bemis–Murcko scaffolds for scaffold splits: ring systems plus the linkers between them, with
/// side chains removed but atoms double-bonded to the scaffold kept (as RDKit's MurckoScaffold
/// keeps the =O of a lactam). The key is a canonical text form of that graph, equal for any
/// two spellings of the same scaffold; it is not a SMILES.
/// </summary>
public static class MurckoScaffold
{
    /// <summary>The scaffold's canonical key, or the empty string for a molecule without rings.</summary>
    public static string Key(Molecule m)
    {
        if (m.RingCount == 0)
        {
            return "";
        }
        var keep = ScaffoldAtoms(m);
        var atoms = Enumerable.Range(0, m.Atoms.Count).Where(i => keep[i]).ToArray();
        var bonds = m.Bonds.Where(b => keep[b.Begin] && keep[b.End]).ToArray();
        return CanonicalGraph.Key(m, atoms, bonds, Label);
    }

    private static bool[] ScaffoldAtoms(Molecule m)
    {
        // Strip chain atoms from the ends inwards; what survives lies on rings or between them.
        var keep = new bool[m.Atoms.Count];
        var degree = new int[m.Atoms.Count];
        var leaves = new Stack<int>();
        for (var i = 0; i < keep.Length; i++)
        {
            keep[i] = true;
            degree[i] = m.Degree(i);
            if (degree[i] <= 1 && !m.IsRingAtom(i))
            {
                leaves.Push(i);
            }
        }
        while (leaves.Count > 0)
        {
            var atom = leaves.Pop();
            keep[atom] = false;
            foreach (var b in m.BondsOf(atom))
            {
                var other = m.Bonds[b].OtherAtom(atom);
                if (keep[other] && --degree[other] == 1 && !m.IsRingAtom(other))
                {
                    leaves.Push(other);
                }
            }
        }

        var scaffold = (bool[])keep.Clone();
        foreach (var bond in m.Bonds)
        {
            if (bond.Order == BondOrder.Double && keep[bond.Begin] != keep[bond.End])
            {
                scaffold[bond.Begin] = scaffold[bond.End] = true;
            }
        }
        return scaffold;
    }

    /// <summary>Element (lower case when aromatic) and charge: a scaffold's side chains, hydrogens included, are gone.</summary>
    private static string Label(Atom atom)
    {
        var symbol = atom.IsAromatic ? atom.Symbol.ToLowerInvariant() : atom.Symbol;
        return atom.FormalCharge == 0 ? symbol : $"{symbol}{atom.FormalCharge:+0;-0}";
    }
}

/// <summary>
/// A canonical text form of a labelled graph: each connected part is ranked by iterated
/// neighbourhood refinement, remaining ties (symmetric atoms) are broken one at a time, the part
/// is written in rank order, and the parts are sorted. <c>label</c> says what of an atom counts.
/// </summary>
internal static class CanonicalGraph
{
    public static string Key(Molecule m, int[] atoms, Bond[] bonds, Func<Atom, string> label)
    {
        var local = new Dictionary<int, int>();
        for (var i = 0; i < atoms.Length; i++)
        {
            local[atoms[i]] = i;
        }
        var neighbors = atoms.Select(_ => new List<(int Atom, int Order)>()).ToArray();
        foreach (var bond in bonds)
        {
            var (u, v) = (local[bond.Begin], local[bond.End]);
            neighbors[u].Add((v, (int)bond.Order));
            neighbors[v].Add((u, (int)bond.Order));
        }
        var labels = atoms.Select(a => label(m.Atoms[a])).ToArray();
        var parts = Components(neighbors).Select(part => PartKey(part, labels, neighbors)).Order(StringComparer.Ordinal);
        return string.Join(" ", parts);
    }

    private static List<int[]> Components(List<(int Atom, int Order)>[] neighbors)
    {
        var seen = new bool[neighbors.Length];
        var parts = new List<int[]>();
        for (var start = 0; start < neighbors.Length; start++)
        {
            if (seen[start])
            {
                continue;
            }
            var part = new List<int> { start };
            seen[start] = true;
            for (var i = 0; i < part.Count; i++)
            {
                foreach (var (next, _) in neighbors[part[i]])
                {
                    if (!seen[next])
                    {
                        seen[next] = true;
                        part.Add(next);
                    }
                }
            }
            parts.Add(part.ToArray());
        }
        return parts;
    }

    private static string PartKey(int[] part, string[] labels, List<(int Atom, int Order)>[] neighbors)
    {
        // Re-index the part 0..n-1 so that ranks and neighbour lists are local to it.
        var index = new Dictionary<int, int>();
        for (var i = 0; i < part.Length; i++)
        {
            index[part[i]] = i;
        }
        var adjacent = part.Select(a => neighbors[a].Select(n => (index[n.Atom], n.Order)).ToArray()).ToArray();
        var partLabels = part.Select(a => labels[a]).ToArray();
        var labelRank = partLabels.Distinct().Order(StringComparer.Ordinal).Select((l, i) => (l, i))
            .ToDictionary(p => p.l, p => (long)p.i);

        var ranks = Refine(partLabels.Select((l, i) => labelRank[l] * 64 + adjacent[i].Length).ToArray(), adjacent);
        while (CountClasses(ranks) < ranks.Length)
        {
            // Break the lowest tie: one atom of the tied class goes first, then refine again.
            var tied = LowestTiedRank(ranks);
            var chosen = Array.IndexOf(ranks, tied);
            ranks = Refine(ranks.Select((r, i) => r * 2L + (r == tied && i != chosen ? 1 : 0)).ToArray(), adjacent);
        }

        var atomsInOrder = new string[part.Length];
        var edges = new List<(int Low, int High, int Order)>();
        for (var i = 0; i < part.Length; i++)
        {
            atomsInOrder[ranks[i]] = partLabels[i];
            foreach (var (j, order) in adjacent[i])
            {
                if (ranks[i] < ranks[j])
                {
                    edges.Add((ranks[i], ranks[j], order));
                }
            }
        }
        edges.Sort();
        return string.Join(".", atomsInOrder) + "|" + string.Join(",", edges.Select(e => $"{e.Low}-{e.High}:{e.Order}"));
    }

    /// <summary>
    /// Splits classes by their sorted (neighbour class, bond order) lists until no class splits;
    /// returns dense ranks 0..classes-1 that depend only on the graph, not on atom numbering.
    /// </summary>
    private static int[] Refine(long[] initial, (int Atom, int Order)[][] adjacent)
    {
        var n = initial.Length;
        var ranks = DenseRanks(initial.Select(v => new[] { v }).ToArray());
        var classes = CountClasses(ranks);
        var signatures = new long[n][];
        while (classes < n)
        {
            for (var i = 0; i < n; i++)
            {
                var signature = signatures[i] ??= new long[adjacent[i].Length + 1];
                signature[0] = ranks[i];
                for (var k = 0; k < adjacent[i].Length; k++)
                {
                    signature[k + 1] = (long)ranks[adjacent[i][k].Atom] * 16 + adjacent[i][k].Order;
                }
                Array.Sort(signature, 1, adjacent[i].Length);
            }
            var refined = DenseRanks(signatures);
            var refinedClasses = CountClasses(refined);
            if (refinedClasses == classes)
            {
                break;
            }
            (ranks, classes) = (refined, refinedClasses);
        }
        return ranks;
    }

    private static int[] DenseRanks(long[][] signatures)
    {
        var order = Enumerable.Range(0, signatures.Length).ToArray();
        Array.Sort(order, (x, y) => signatures[x].AsSpan().SequenceCompareTo(signatures[y]));
        var ranks = new int[signatures.Length];
        var rank = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (k > 0 && !signatures[order[k]].AsSpan().SequenceEqual(signatures[order[k - 1]]))
            {
                rank = k;
            }
            ranks[order[k]] = rank;
        }
        return ranks;
    }

    private static int CountClasses(int[] ranks)
    {
        var seen = new bool[ranks.Length];
        var classes = 0;
        foreach (var r in ranks)
        {
            if (!seen[r])
            {
                seen[r] = true;
                classes++;
            }
        }
        return classes;
    }

    private static int LowestTiedRank(int[] ranks)
    {
        var counts = new int[ranks.Length];
        foreach (var r in ranks)
        {
            counts[r]++;
        }
        return Array.FindIndex(counts, c => c > 1);
    }
}
