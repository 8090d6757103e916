using MtnnCluster.Chem;

namespace MtnnCluster.Training;

/// <summary>A molecule's fingerprint as sparse features: set bits (value 1) or, with counts, environments per bit.</summary>
public static class FeatureEncoding
{
    public static SparseFeatures Encode(EcfpFeaturizer featurizer, Molecule molecule, bool counts)
    {
        if (!counts)
        {
            var bits = featurizer.SetBits(molecule);
            return new SparseFeatures(bits, Enumerable.Repeat(1f, bits.Length).ToArray());
        }
        var perBit = featurizer.Counts(molecule);
        var indices = perBit.Keys.Order().ToArray();
        return new SparseFeatures(indices, indices.Select(i => (float)perBit[i]).ToArray());
    }
}
