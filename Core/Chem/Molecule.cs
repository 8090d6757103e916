namespace MtnnCluster.Chem;

/// <summary>
/// A molecular graph as parsed and sanitized by <see cref="SmilesParser"/>: atoms, bonds,
/// adjacency and ring information. Its topology is fixed once built.
/// </summary>
public sealed class Molecule
{
    private readonly int[][] _bondsOf;
    private readonly RingSet _rings;
    private readonly bool[] _inRing;

    internal Molecule(IReadOnlyList<Atom> atoms, IReadOnlyList<Bond> bonds)
    {
        Atoms = atoms;
        Bonds = bonds;
        var lists = new List<int>[atoms.Count];
        for (var i = 0; i < lists.Length; i++)
        {
            lists[i] = [];
        }
        foreach (var bond in bonds)
        {
            lists[bond.Begin].Add(bond.Index);
            lists[bond.End].Add(bond.Index);
        }
        _bondsOf = lists.Select(l => l.ToArray()).ToArray();
        _rings = RingFinder.Find(atoms.Count, bonds, _bondsOf);
        _inRing = new bool[atoms.Count];
        foreach (var ring in _rings.AtomRings)
        {
            foreach (var atom in ring)
            {
                _inRing[atom] = true;
            }
        }
        ComponentCount = CountComponents();
    }

    public IReadOnlyList<Atom> Atoms { get; }

    public IReadOnlyList<Bond> Bonds { get; }

    /// <summary>Indices of the bonds at an atom.</summary>
    public IReadOnlyList<int> BondsOf(int atom) => _bondsOf[atom];

    public int Degree(int atom) => _bondsOf[atom].Length;

    /// <summary>The atom's neighbours other than explicit hydrogen atoms.</summary>
    public IEnumerable<int> HeavyNeighbours(int atom)
    {
        foreach (var b in _bondsOf[atom])
        {
            var other = Bonds[b].OtherAtom(atom);
            if (Atoms[other].AtomicNumber > 1) yield return other;
        }
    }

    /// <summary>How many of the atom's neighbours are not explicit hydrogen atoms.</summary>
    public int HeavyDegree(int atom) => HeavyNeighbours(atom).Count();

    /// <summary>Neighbours including the hydrogens counted on the atom (RDKit's total degree).</summary>
    public int TotalDegree(int atom) => _bondsOf[atom].Length + Atoms[atom].TotalHydrogens;

    public Bond? BondBetween(int first, int second)
    {
        foreach (var b in _bondsOf[first])
        {
            if (Bonds[b].OtherAtom(first) == second)
            {
                return Bonds[b];
            }
        }
        return null;
    }

    /// <summary>Atoms heavier than hydrogen.</summary>
    public int HeavyAtomCount => Atoms.Count(a => a.AtomicNumber > 1);

    /// <summary>Number of disconnected fragments (the parts separated by '.').</summary>
    public int ComponentCount { get; }

    /// <summary>Bonds - atoms + components: the size of a smallest set of smallest rings.</summary>
    public int CyclomaticNumber => Bonds.Count - Atoms.Count + ComponentCount;

    /// <summary>
    /// The relevant cycles (union of all minimum cycle bases) as atom sequences, smallest first.
    /// This is RDKit's ring set ("symmetrized SSSR"): usually the SSSR, but cages with
    /// interchangeable rings list all of them (adamantane 4, cubane 6).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int>> Rings => _rings.AtomRings;

    /// <summary>The bonds of each ring in <see cref="Rings"/>, in the same order.</summary>
    public IReadOnlyList<IReadOnlyList<int>> RingBonds => _rings.BondRings;

    public int RingCount => _rings.AtomRings.Count;

    /// <summary>Rings whose bonds are all aromatic, counted as RDKit's CalcNumAromaticRings does.</summary>
    public int AromaticRingCount => Enumerable.Range(0, RingCount).Count(IsAromaticRing);

    /// <summary>Whether every bond of ring <paramref name="ring"/> (an index into <see cref="Rings"/>) is aromatic.</summary>
    public bool IsAromaticRing(int ring) => _rings.BondRings[ring].All(b => Bonds[b].IsAromatic);

    public bool IsRingAtom(int atom) => _inRing[atom];

    public bool IsRingBond(int bond) => _rings.IsRingBond[bond];

    private int CountComponents()
    {
        var seen = new bool[Atoms.Count];
        var components = 0;
        var stack = new Stack<int>();
        for (var start = 0; start < Atoms.Count; start++)
        {
            if (seen[start])
            {
                continue;
            }
            components++;
            seen[start] = true;
            stack.Push(start);
            while (stack.Count > 0)
            {
                var atom = stack.Pop();
                foreach (var b in _bondsOf[atom])
                {
                    var other = Bonds[b].OtherAtom(atom);
                    if (!seen[other])
                    {
                        seen[other] = true;
                        stack.Push(other);
                    }
                }
            }
        }
        return components;
    }
}
