using MtnnCluster.Chem;

namespace MtnnCluster.Training;

/// <summary>
/// The features of a list of SMILES: per molecule its sparse fingerprint, or null and why it could not be parsed,
/// and (when asked for) its Bemis-Murcko scaffold key and its own key (<see cref="MoleculeKey"/>).
/// </summary>
/// <param name="Graphs">Per molecule its graph (<see cref="GraphFeatures"/>), when the spec asks for graphs.</param>
public sealed record FeaturizedMolecules(SparseFeatures?[] Features, string?[] Errors, string?[]? Scaffolds, string?[]? Keys = null, MoleculeGraph?[]? Graphs = null)
{
    /// <summary>The indices of the molecules that parsed, in order.</summary>
    public int[] Valid() => Enumerable.Range(0, Features.Length).Where(i => Features[i] is not null).ToArray();

    /// <summary>What a trunk reads of these molecules (an invalid one reads as no feature and no graph: never stored).</summary>
    public Model.MoleculeInputs Inputs(int featureSize) =>
        new(Features.Select(f => f ?? Empty).ToArray(), featureSize, Graphs?.Select(g => g ?? MoleculeGraph.Empty).ToArray());

    private static readonly SparseFeatures Empty = new([], []);
}

/// <summary>A molecule's fingerprint as sparse features: set bits (value 1) or, with counts, environments per bit.</summary>
public static class FeatureEncoding
{
    /// <summary>The one featurize loop: training data and prediction inputs alike, molecules in parallel.</summary>
    public static FeaturizedMolecules Featurize(IReadOnlyList<string> smiles, FeaturizerSpec spec, bool scaffolds = false, bool moleculeKeys = false)
    {
        var featurizer = new EcfpFeaturizer(spec.Radius, spec.Bits);
        var features = new SparseFeatures?[smiles.Count];
        var errors = new string?[smiles.Count];
        var keys = scaffolds ? new string?[smiles.Count] : null;
        var identities = moleculeKeys ? new string?[smiles.Count] : null;
        var graphs = spec.GraphFeatures > 0 ? new MoleculeGraph?[smiles.Count] : null;
        Parallel.For(0, smiles.Count, row =>
        {
            if (!SmilesParser.TryParse(smiles[row], out var molecule, out var error) || molecule is null)
            {
                errors[row] = error ?? "invalid SMILES";
                return;
            }
            features[row] = Encode(featurizer, molecule, spec);
            if (keys is not null) keys[row] = MurckoScaffold.Key(molecule);
            if (identities is not null) identities[row] = MoleculeKey.Of(molecule);
            if (graphs is not null) graphs[row] = GraphFeatures.Of(molecule);
        });
        return new FeaturizedMolecules(features, errors, keys, identities, graphs);
    }

    private static readonly SparseFeatures None = new([], []);

    public static SparseFeatures Encode(EcfpFeaturizer featurizer, Molecule molecule, FeaturizerSpec spec)
    {
        // a graph trunk may read the graph alone, or its descriptors without the fingerprint
        var fingerprint = spec.Fingerprint ? Fingerprint(featurizer, molecule, spec.Counts, spec.CountScale) : None;
        if (!spec.Descriptors) return fingerprint;
        // the descriptors' non-zero counts follow the fingerprint's bits, on the log scale whatever --count-scale says
        // (raw heavy-atom counts of 30-100 beside bits of 1 would dominate the first layer's input)
        var counts = MoleculeDescriptors.Counts(molecule, spec.DescriptorSet);
        var set = Enumerable.Range(0, counts.Length).Where(d => counts[d] > 0).ToArray();
        return new SparseFeatures([.. fingerprint.Indices, .. set.Select(d => spec.FingerprintSize + d)],
            [.. fingerprint.Values, .. set.Select(d => MathF.Log(1 + counts[d]))]);
    }

    private static SparseFeatures Fingerprint(EcfpFeaturizer featurizer, Molecule molecule, bool counts, CountScale scale)
    {
        if (!counts)
        {
            var bits = featurizer.SetBits(molecule);
            return new SparseFeatures(bits, Enumerable.Repeat(1f, bits.Length).ToArray());
        }
        var perBit = featurizer.Counts(molecule);
        var indices = perBit.Keys.Order().ToArray();
        return new SparseFeatures(indices, indices.Select(i => scale == CountScale.Log ? MathF.Log(1 + perBit[i]) : perBit[i]).ToArray());
    }
}
