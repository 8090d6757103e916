namespace MtnnCluster.Chem;

/// <summary>
/// The shape of a molecule's heavy-atom graph, as whole numbers: how far apart its atoms are, how its rings group
/// into ring systems, and its longest chain of carbons outside rings. Topological indices of this kind (Wiener's
/// path number, the graph's diameter) are among RDKit's 2D descriptors; a circular fingerprint of radius 2 sees none.
/// </summary>
public static class GraphShape
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "diameter", "mean_distance_halves", "ring_systems", "largest_ring_system_atoms", "ring_junction_atoms",
        "spiro_atoms", "longest_carbon_chain",
    ];

    public static int[] Counts(Molecule m)
    {
        var neighbours = HeavyNeighbours(m);
        var (diameter, meanDistanceHalves) = Distances(m, neighbours);
        var systems = RingSystemSizes(m);
        var ringBondsAt = new int[m.Atoms.Count];
        foreach (var bond in m.Bonds)
        {
            if (!m.IsRingBond(bond.Index)) continue;
            ringBondsAt[bond.Begin]++;
            ringBondsAt[bond.End]++;
        }
        var chain = Enumerable.Range(0, m.Atoms.Count).Select(a => m.Atoms[a].AtomicNumber == 6 && !m.IsRingAtom(a)).ToArray();
        return
        [
            diameter, meanDistanceHalves, systems.Length, systems.Length == 0 ? 0 : systems.Max(),
            ringBondsAt.Count(b => b >= 3),
            Enumerable.Range(0, m.Atoms.Count).Count(a => ringBondsAt[a] == 4 && IsSpiro(m, a)),
            LongestPath(neighbours, chain),
        ];
    }

    // breadth-first searches from every atom are quadratic: they walk arrays, not the molecule's enumerators
    private static int[][] HeavyNeighbours(Molecule m) =>
        Enumerable.Range(0, m.Atoms.Count).Select(a => m.Atoms[a].AtomicNumber > 1 ? m.HeavyNeighbours(a).ToArray() : []).ToArray();

    /// <summary>The longest shortest path between two heavy atoms, and twice the mean over connected pairs, rounded.</summary>
    private static (int Diameter, int MeanDistanceHalves) Distances(Molecule m, int[][] neighbours)
    {
        var distance = new int[m.Atoms.Count];
        var queue = new int[m.Atoms.Count];
        int diameter = 0;
        long sum = 0, pairs = 0;
        for (var from = 0; from < m.Atoms.Count; from++)
        {
            if (m.Atoms[from].AtomicNumber <= 1) continue;
            Array.Fill(distance, -1);
            distance[from] = 0;
            int head = 0, tail = 0;
            queue[tail++] = from;
            while (head < tail)
            {
                var atom = queue[head++];
                foreach (var next in neighbours[atom])
                {
                    if (distance[next] >= 0) continue;
                    distance[next] = distance[atom] + 1;
                    queue[tail++] = next;
                    if (next > from)
                    {
                        sum += distance[next];
                        pairs++;
                        diameter = Math.Max(diameter, distance[next]);
                    }
                }
            }
        }
        return (diameter, pairs == 0 ? 0 : (int)Math.Round(2.0 * sum / pairs));
    }

    /// <summary>The atoms of each ring system: rings that share an atom belong to one system.</summary>
    private static int[] RingSystemSizes(Molecule m)
    {
        var system = Enumerable.Range(0, m.RingCount).ToArray();
        int Root(int r)
        {
            while (system[r] != r) r = system[r] = system[system[r]];
            return r;
        }
        var ringOfAtom = new Dictionary<int, int>();
        for (var r = 0; r < m.RingCount; r++)
        {
            foreach (var atom in m.Rings[r])
            {
                if (ringOfAtom.TryGetValue(atom, out var other)) system[Root(r)] = Root(other);
                else ringOfAtom[atom] = r;
            }
        }
        return ringOfAtom.GroupBy(p => Root(p.Value)).Select(g => g.Count()).ToArray();
    }

    /// <summary>An atom two of whose rings meet at it alone.</summary>
    private static bool IsSpiro(Molecule m, int atom)
    {
        var rings = m.Rings.Where(r => r.Contains(atom)).ToArray();
        for (var i = 0; i < rings.Length; i++)
            for (var j = i + 1; j < rings.Length; j++)
                if (rings[i].Intersect(rings[j]).Count() == 1) return true;
        return false;
    }

    /// <summary>The most atoms on a path through the atoms <paramref name="inChain"/> marks (a forest: no ring atoms).</summary>
    private static int LongestPath(int[][] neighbours, bool[] inChain)
    {
        var length = new int[inChain.Length];
        var queue = new int[inChain.Length];
        var longest = 0;
        for (var from = 0; from < inChain.Length; from++)
        {
            if (!inChain[from]) continue;
            Array.Clear(length);
            length[from] = 1;
            int head = 0, tail = 0;
            queue[tail++] = from;
            while (head < tail)
            {
                var atom = queue[head++];
                longest = Math.Max(longest, length[atom]);
                foreach (var next in neighbours[atom])
                {
                    if (length[next] > 0 || !inChain[next]) continue;
                    length[next] = length[atom] + 1;
                    queue[tail++] = next;
                }
            }
        }
        return longest;
    }
}
