using System.Numerics;

namespace MtnnCluster.Chem;

/// <summary>
/// Extended-connectivity (Morgan) fingerprints as RDKit computes them with its default
/// connectivity invariants and bond types, without chirality. Radius 2 is ECFP4.
/// Identifiers come from this class's own 32-bit hash, so bit positions differ from RDKit's,
/// but which environments exist, and how many are distinct, agree.
/// </summary>
public sealed class EcfpFeaturizer
{
    public EcfpFeaturizer(int radius = 2, int bits = 2048)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(radius);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bits);
        Radius = radius;
        Bits = bits;
    }

    public int Radius { get; }

    public int Bits { get; }

    /// <summary>The distinct environment identifiers of radius 0 to <see cref="Radius"/>.</summary>
    public IReadOnlyCollection<uint> Environments(Molecule m) => AllEnvironments(m).ToHashSet();

    /// <summary>Sorted distinct bit indices after folding the identifiers modulo <see cref="Bits"/>.</summary>
    public int[] SetBits(Molecule m)
    {
        var bits = new SortedSet<int>();
        foreach (var id in AllEnvironments(m))
        {
            bits.Add(Fold(id));
        }
        return bits.ToArray();
    }

    /// <summary>
    /// Bit index to the number of environments folded onto it, as RDKit's count fingerprint:
    /// every atom's radius-0 environment counts, larger ones once per distinct bond set.
    /// </summary>
    public Dictionary<int, int> Counts(Molecule m)
    {
        var counts = new Dictionary<int, int>();
        foreach (var id in AllEnvironments(m))
        {
            var bit = Fold(id);
            counts[bit] = counts.GetValueOrDefault(bit) + 1;
        }
        return counts;
    }

    private int Fold(uint id) => (int)(id % (uint)Bits);

    /// <summary>
    /// Every environment kept, in RDKit's order: all atoms at radius 0, then per radius the atoms
    /// whose environment covers a set of bonds not seen before. An atom whose environment
    /// duplicates one already seen stops growing (and counts as 0 to its neighbours from then on).
    /// </summary>
    internal List<uint> AllEnvironments(Molecule m)
    {
        var atomCount = m.Atoms.Count;
        var words = Math.Max(1, (m.Bonds.Count + 63) / 64);
        var current = new uint[atomCount];
        var result = new List<uint>(atomCount * (Radius + 1));
        for (var i = 0; i < atomCount; i++)
        {
            current[i] = AtomInvariant(m, i);
            result.Add(current[i]);
        }

        var previousCover = new ulong[atomCount * words];
        var cover = new ulong[atomCount * words];
        var dead = new bool[atomCount];
        var seenCovers = new HashSet<BondSet>();
        var neighborhood = new List<(int BondType, uint Invariant)>();
        for (var layer = 0; layer < Radius; layer++)
        {
            var next = new uint[atomCount];
            var grown = new List<(BondSet Cover, uint Id, int Atom)>();
            for (var atom = 0; atom < atomCount; atom++)
            {
                if (dead[atom])
                {
                    continue;
                }
                var bonds = m.BondsOf(atom);
                if (bonds.Count == 0)
                {
                    dead[atom] = true;
                    continue;
                }
                neighborhood.Clear();
                var own = cover.AsSpan(atom * words, words);
                foreach (var b in bonds)
                {
                    var other = m.Bonds[b].OtherAtom(atom);
                    own[b >> 6] |= 1UL << (b & 63);
                    var theirs = previousCover.AsSpan(other * words, words);
                    for (var w = 0; w < words; w++)
                    {
                        own[w] |= theirs[w];
                    }
                    neighborhood.Add(((int)m.Bonds[b].Order, current[other]));
                }
                neighborhood.Sort();
                var id = Hash.Start((uint)layer, current[atom]);
                foreach (var (bondType, invariant) in neighborhood)
                {
                    id = Hash.Add(Hash.Add(id, (uint)bondType), invariant);
                }
                next[atom] = Hash.Finish(id);
                grown.Add((new BondSet(own.ToArray()), next[atom], atom));
            }

            // Among environments covering the same bonds, the smallest identifier wins (as RDKit sorts).
            grown.Sort((x, y) =>
            {
                var byCover = x.Cover.CompareTo(y.Cover);
                return byCover != 0 ? byCover : x.Id != y.Id ? x.Id.CompareTo(y.Id) : x.Atom.CompareTo(y.Atom);
            });
            foreach (var (bondSet, id, atom) in grown)
            {
                if (seenCovers.Add(bondSet))
                {
                    result.Add(id);
                }
                else
                {
                    dead[atom] = true;
                }
            }
            current = next;
            Array.Copy(cover, previousCover, cover.Length);
        }
        return result;
    }

    /// <summary>
    /// RDKit's connectivity invariant: element, total degree, hydrogens (including H atoms),
    /// charge, isotope mass shift and ring membership.
    /// </summary>
    private static uint AtomInvariant(Molecule m, int index)
    {
        var atom = m.Atoms[index];
        var hydrogenNeighbors = 0;
        foreach (var b in m.BondsOf(index))
        {
            if (m.Atoms[m.Bonds[b].OtherAtom(index)].AtomicNumber == 1)
            {
                hydrogenNeighbors++;
            }
        }
        var weight = PeriodicTable.AtomicWeight(atom.AtomicNumber);
        var mass = atom.Isotope > 0 ? PeriodicTable.IsotopeMass(atom.AtomicNumber, atom.Isotope) : weight;
        var massShift = (int)(mass - weight);
        var h = Hash.Start((uint)atom.AtomicNumber, (uint)m.TotalDegree(index));
        h = Hash.Add(h, (uint)(atom.TotalHydrogens + hydrogenNeighbors));
        h = Hash.Add(h, (uint)atom.FormalCharge);
        h = Hash.Add(h, (uint)massShift);
        h = Hash.Add(h, m.IsRingAtom(index) ? 1u : 0u);
        return Hash.Finish(h);
    }

    /// <summary>The bonds an environment covers; compared by value.</summary>
    private readonly struct BondSet(ulong[] words) : IEquatable<BondSet>, IComparable<BondSet>
    {
        private readonly ulong[] _words = words;

        public bool Equals(BondSet other) => _words.AsSpan().SequenceEqual(other._words);

        public override bool Equals(object? obj) => obj is BondSet other && Equals(other);

        public override int GetHashCode()
        {
            var h = new HashCode();
            foreach (var w in _words)
            {
                h.Add(w);
            }
            return h.ToHashCode();
        }

        public int CompareTo(BondSet other) => _words.AsSpan().SequenceCompareTo(other._words);
    }

    /// <summary>MurmurHash3's 32-bit mixing steps: fast, well spread and the same on every machine.</summary>
    private static class Hash
    {
        public static uint Start(uint first, uint second) => Add(Add(0x9747B28Cu, first), second);

        public static uint Add(uint h, uint value)
        {
            value *= 0xCC9E2D51u;
            value = BitOperations.RotateLeft(value, 15);
            value *= 0x1B873593u;
            h ^= value;
            h = BitOperations.RotateLeft(h, 13);
            return h * 5 + 0xE6546B64u;
        }

        public static uint Finish(uint h)
        {
            h ^= h >> 16;
            h *= 0x85EBCA6Bu;
            h ^= h >> 13;
            h *= 0xC2B2AE35u;
            h ^= h >> 16;
            return h;
        }
    }
}
