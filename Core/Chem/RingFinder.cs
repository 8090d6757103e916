using System.Numerics;

namespace MtnnCluster.Chem;

/// <summary>The rings of a molecule: atom sequences and the matching bond sets, smallest first.</summary>
internal sealed record RingSet(IReadOnlyList<int[]> AtomRings, IReadOnlyList<int[]> BondRings, bool[] IsRingBond);

/// <summary>
/// Finds the relevant cycles (Vismara): the cycles that are not a sum of strictly shorter ones,
/// i.e. the union of all minimum cycle bases. RDKit reports this set as its "symmetrized SSSR",
/// so adamantane has 4 rings and cubane 6, while naphthalene's outer 10-ring is left out.
/// </summary>
internal static class RingFinder
{
    // Bounds the shortest paths kept per atom and root; only pathological cages come near it.
    private const int MaxPathsPerAtom = 64;

    public static RingSet Find(int atomCount, IReadOnlyList<Bond> bonds, int[][] bondsOf)
    {
        var graph = new RingGraph(bonds, bondsOf, FindCyclicBonds(atomCount, bonds, bondsOf));
        var rings = new List<Cycle>();
        foreach (var system in graph.RingSystems())
        {
            var systemBonds = system.Sum(a => graph.RingBondsOf(a).Count()) / 2;
            if (systemBonds == system.Count)
            {
                rings.Add(graph.WalkSimpleRing(system));
            }
            else
            {
                rings.AddRange(RelevantCycles(graph, system, systemBonds - system.Count + 1));
            }
        }
        rings.Sort(CompareRings);
        return new RingSet(rings.Select(c => c.Atoms).ToArray(), rings.Select(c => c.Bonds).ToArray(), graph.IsRingBond);
    }

    private sealed record Cycle(int[] Atoms, int[] Bonds);

    /// <summary>A shortest path from the root, sharing its beginning with other paths.</summary>
    private sealed record PathNode(int Atom, int Bond, PathNode? Parent);

    /// <summary>The ring bonds of a molecule, as a graph of their own.</summary>
    private sealed class RingGraph(IReadOnlyList<Bond> bonds, int[][] bondsOf, bool[] isRingBond)
    {
        public bool[] IsRingBond { get; } = isRingBond;

        public int BondCount => bonds.Count;

        public IEnumerable<(int Bond, int Other)> RingBondsOf(int atom)
        {
            foreach (var b in bondsOf[atom])
            {
                if (IsRingBond[b])
                {
                    yield return (b, bonds[b].OtherAtom(atom));
                }
            }
        }

        /// <summary>Atoms joined by ring bonds, one sorted list per ring system.</summary>
        public List<List<int>> RingSystems()
        {
            var seen = new bool[bondsOf.Length];
            var systems = new List<List<int>>();
            for (var start = 0; start < bondsOf.Length; start++)
            {
                if (seen[start] || !RingBondsOf(start).Any())
                {
                    continue;
                }
                var system = new List<int> { start };
                seen[start] = true;
                for (var i = 0; i < system.Count; i++)
                {
                    foreach (var (_, other) in RingBondsOf(system[i]))
                    {
                        if (!seen[other])
                        {
                            seen[other] = true;
                            system.Add(other);
                        }
                    }
                }
                system.Sort();
                systems.Add(system);
            }
            return systems;
        }

        /// <summary>A ring system with as many bonds as atoms is a single ring: follow it round.</summary>
        public Cycle WalkSimpleRing(List<int> system)
        {
            var atoms = new List<int> { system[0] };
            var ringBonds = new List<int>();
            var (previousBond, current) = RingBondsOf(system[0]).First();
            ringBonds.Add(previousBond);
            while (current != system[0])
            {
                atoms.Add(current);
                (previousBond, current) = RingBondsOf(current).First(e => e.Bond != previousBond);
                ringBonds.Add(previousBond);
            }
            return new Cycle(Normalize(atoms), ringBonds.Order().ToArray());
        }
    }

    /// <summary>Bonds that lie on some cycle (the non-bridges), by an iterative low-link search.</summary>
    private static bool[] FindCyclicBonds(int atomCount, IReadOnlyList<Bond> bonds, int[][] bondsOf)
    {
        var isRingBond = new bool[bonds.Count];
        var order = new int[atomCount];
        var low = new int[atomCount];
        var next = new int[atomCount];
        var parentBond = new int[atomCount];
        Array.Fill(order, -1);
        var counter = 0;
        var stack = new Stack<int>();
        for (var root = 0; root < atomCount; root++)
        {
            if (order[root] >= 0)
            {
                continue;
            }
            order[root] = low[root] = counter++;
            parentBond[root] = -1;
            stack.Push(root);
            while (stack.Count > 0)
            {
                var atom = stack.Peek();
                if (next[atom] < bondsOf[atom].Length)
                {
                    var bond = bondsOf[atom][next[atom]++];
                    if (bond == parentBond[atom])
                    {
                        continue;
                    }
                    var other = bonds[bond].OtherAtom(atom);
                    if (order[other] < 0)
                    {
                        order[other] = low[other] = counter++;
                        parentBond[other] = bond;
                        stack.Push(other);
                    }
                    else
                    {
                        low[atom] = Math.Min(low[atom], order[other]);
                    }
                    continue;
                }
                stack.Pop();
                if (parentBond[atom] < 0)
                {
                    continue;
                }
                var parent = bonds[parentBond[atom]].OtherAtom(atom);
                low[parent] = Math.Min(low[parent], low[atom]);
                isRingBond[parentBond[atom]] = low[atom] <= order[parent];
            }
        }
        // Every bond outside the search tree closes a cycle.
        for (var b = 0; b < bonds.Count; b++)
        {
            if (parentBond[bonds[b].Begin] != b && parentBond[bonds[b].End] != b)
            {
                isRingBond[b] = true;
            }
        }
        return isRingBond;
    }

    /// <summary>
    /// The relevant cycles of one ring system. Both halves of a relevant cycle are shortest
    /// paths, so every one of them is two shortest paths from its lowest atom (the root), joined
    /// by a bond (odd length) or at a far atom (even length). Candidates are built shortest first,
    /// depth by depth, and each is kept when it is independent (over GF(2)) of all strictly
    /// shorter ones; the search stops once the shorter cycles span the whole cycle space.
    /// </summary>
    private static List<Cycle> RelevantCycles(RingGraph graph, List<int> system, int cycleRank)
    {
        var words = (graph.BondCount + 63) / 64;
        var basis = new Dictionary<int, ulong[]>();
        var relevant = new List<Cycle>();
        for (var depth = 1; depth <= system.Count / 2 && basis.Count < cycleRank; depth++)
        {
            var candidates = new Dictionary<string, (Cycle Cycle, ulong[] Bits)>();
            foreach (var root in system)
            {
                AddCandidates(graph, root, depth, words, candidates);
            }
            // Lengths 2*depth+1, then 2*depth+2: each class is judged against shorter cycles only.
            foreach (var sameLength in candidates.Values.GroupBy(c => c.Cycle.Bonds.Length).OrderBy(g => g.Key))
            {
                var independent = new List<ulong[]>();
                foreach (var (cycle, bits) in sameLength)
                {
                    if (Reduce(bits, basis) is { } reduced)
                    {
                        relevant.Add(cycle);
                        independent.Add(reduced);
                    }
                }
                foreach (var vector in independent)
                {
                    if (Reduce(vector, basis) is { } still)
                    {
                        basis[LowestBit(still)] = still;
                    }
                }
            }
        }
        return relevant;
    }

    /// <summary>Cycles of length 2*depth+1 and 2*depth+2 whose lowest atom is the root.</summary>
    private static void AddCandidates(RingGraph graph, int root, int depth, int words,
        Dictionary<string, (Cycle Cycle, ulong[] Bits)> candidates)
    {
        var distance = new Dictionary<int, int> { [root] = 0 };
        var paths = new Dictionary<int, List<PathNode>> { [root] = [new PathNode(root, -1, null)] };
        var frontier = new List<int> { root };
        for (var d = 0; d <= depth && frontier.Count > 0; d++)
        {
            var nextFrontier = new List<int>();
            foreach (var atom in frontier)
            {
                foreach (var (bond, other) in graph.RingBondsOf(atom))
                {
                    if (other < root)
                    {
                        continue;
                    }
                    if (!distance.TryGetValue(other, out var known))
                    {
                        distance[other] = known = d + 1;
                        paths[other] = [];
                        nextFrontier.Add(other);
                    }
                    if (known == d + 1)
                    {
                        var into = paths[other];
                        foreach (var path in paths[atom])
                        {
                            if (into.Count == MaxPathsPerAtom)
                            {
                                break;
                            }
                            into.Add(new PathNode(other, bond, path));
                        }
                    }
                }
            }
            frontier = nextFrontier;
        }

        foreach (var (atom, d) in distance)
        {
            if (d == depth)
            {
                foreach (var (bond, other) in graph.RingBondsOf(atom))
                {
                    if (other > atom && distance.GetValueOrDefault(other, -1) == depth)
                    {
                        Join(paths[atom], paths[other], [bond], -1, words, candidates);
                    }
                }
            }
            else if (d == depth + 1)
            {
                var arrivals = paths[atom];
                foreach (var first in arrivals)
                {
                    foreach (var second in arrivals)
                    {
                        if (first.Parent!.Atom < second.Parent!.Atom)
                        {
                            Join([first.Parent], [second.Parent], [first.Bond, second.Bond], atom, words, candidates);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Joins pairs of root paths that meet only at the root into cycles.</summary>
    private static void Join(List<PathNode> left, List<PathNode> right, int[] joiningBonds, int apex, int words,
        Dictionary<string, (Cycle Cycle, ulong[] Bits)> candidates)
    {
        foreach (var a in left)
        {
            var leftAtoms = new HashSet<int>();
            for (var node = a; node.Parent is not null; node = node.Parent)
            {
                leftAtoms.Add(node.Atom);
            }
            foreach (var b in right)
            {
                var disjoint = true;
                for (var node = b; node.Parent is not null && disjoint; node = node.Parent)
                {
                    disjoint = !leftAtoms.Contains(node.Atom);
                }
                if (!disjoint)
                {
                    continue;
                }
                var atoms = AtomsFromRoot(a);
                if (apex >= 0)
                {
                    atoms.Add(apex);
                }
                var back = AtomsFromRoot(b);
                for (var i = back.Count - 1; i > 0; i--)
                {
                    atoms.Add(back[i]);
                }
                var cycleBonds = new List<int>(joiningBonds);
                AddBonds(a, cycleBonds);
                AddBonds(b, cycleBonds);
                var bits = new ulong[words];
                foreach (var bond in cycleBonds)
                {
                    bits[bond >> 6] |= 1UL << (bond & 63);
                }
                candidates.TryAdd(string.Join(',', bits), (new Cycle(Normalize(atoms), cycleBonds.Order().ToArray()), bits));
            }
        }
    }

    private static List<int> AtomsFromRoot(PathNode end)
    {
        var atoms = new List<int>();
        for (var node = end; node is not null; node = node.Parent)
        {
            atoms.Add(node.Atom);
        }
        atoms.Reverse();
        return atoms;
    }

    private static void AddBonds(PathNode end, List<int> into)
    {
        for (var node = end; node.Parent is not null; node = node.Parent)
        {
            into.Add(node.Bond);
        }
    }

    private static ulong[]? Reduce(ulong[] vector, Dictionary<int, ulong[]> basis)
    {
        var v = (ulong[])vector.Clone();
        for (var pivot = LowestBit(v); pivot >= 0; pivot = LowestBit(v))
        {
            if (!basis.TryGetValue(pivot, out var row))
            {
                return v;
            }
            for (var w = 0; w < v.Length; w++)
            {
                v[w] ^= row[w];
            }
        }
        return null;
    }

    private static int LowestBit(ulong[] v)
    {
        for (var w = 0; w < v.Length; w++)
        {
            if (v[w] != 0)
            {
                return (w << 6) + BitOperations.TrailingZeroCount(v[w]);
            }
        }
        return -1;
    }

    /// <summary>Starts the ring at its lowest atom, heading toward the lower of its two neighbours.</summary>
    private static int[] Normalize(List<int> ring)
    {
        var n = ring.Count;
        var start = ring.IndexOf(ring.Min());
        var forward = ring[(start + 1) % n] < ring[(start + n - 1) % n];
        var result = new int[n];
        for (var i = 0; i < n; i++)
        {
            result[i] = ring[forward ? (start + i) % n : (start - i + n) % n];
        }
        return result;
    }

    private static int CompareRings(Cycle x, Cycle y)
    {
        var bySize = x.Atoms.Length.CompareTo(y.Atoms.Length);
        return bySize != 0 ? bySize : x.Atoms.AsSpan().SequenceCompareTo(y.Atoms);
    }
}
