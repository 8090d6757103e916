using MtnnCluster.Chem;
using MtnnCluster.Training;
using Xunit;

namespace MtnnCluster.Tests.Chem;

/// <summary>
/// The whole-molecule counts, by hand. Heavy atoms, weight in tens of daltons, hydrogens, rings, aromatic rings,
/// aromatic heterocycles, saturated rings and N + O agree with RDKit 2024 on these molecules (MolWt, CalcNumRings, ...,
/// NOCount); rotatable bonds follow this project's rule, which counts aspirin's ester bond as RDKit's strict rule does not.
/// </summary>
public sealed class MoleculeDescriptorsTests
{
    private static Dictionary<string, int> Of(string smiles)
    {
        var counts = MoleculeDescriptors.Counts(SmilesParser.Parse(smiles), MoleculeDescriptors.LatestSet);
        Assert.Equal(MoleculeDescriptors.Count(MoleculeDescriptors.LatestSet), counts.Length);
        return MoleculeDescriptors.Names(MoleculeDescriptors.LatestSet).Zip(counts).ToDictionary(p => p.First, p => p.Second);
    }

    private static void Expect(Dictionary<string, int> counts, params (string Name, int Value)[] expected)
    {
        foreach (var (name, value) in expected) Assert.True(counts[name] == value, $"{name}: {counts[name]}, expected {value}");
    }

    [Fact]
    public void Aspirin()
    {
        var d = Of("CC(=O)Oc1ccccc1C(=O)O");
        Expect(d, ("heavy_atoms", 13), ("weight_tens_of_daltons", 18), ("hydrogens", 8), ("carbon", 9), ("oxygen", 4), ("nitrogen", 0),
            ("heteroatoms", 4), ("aromatic_atoms", 6), ("ring_atoms", 6), ("ring_heteroatoms", 0), ("rings", 1), ("aromatic_rings", 1),
            ("aromatic_heterocycles", 0), ("saturated_rings", 0), ("rings_of_6", 1), ("fused_ring_atoms", 0), ("rotatable_bonds", 3),
            ("double_bonds", 2), ("triple_bonds", 0), ("sp3_carbons", 1), ("donors_nh_oh_atoms", 1), ("acceptors_n_o", 4),
            ("terminal_atoms", 4), ("branch_atoms", 4), ("quaternary_atoms", 0), ("components", 1));
    }

    [Fact]
    public void Naphthalene_has_two_fused_aromatic_rings()
    {
        Expect(Of("c1ccc2ccccc2c1"), ("heavy_atoms", 10), ("weight_tens_of_daltons", 13), ("hydrogens", 8), ("rings", 2), ("aromatic_rings", 2),
            ("rings_of_6", 2), ("fused_ring_atoms", 2), ("branch_atoms", 2), ("terminal_atoms", 0), ("rotatable_bonds", 0));
    }

    [Fact]
    public void A_salt_counts_its_charges_and_components()
    {
        Expect(Of("[NH4+].[Cl-]"), ("heavy_atoms", 2), ("weight_tens_of_daltons", 5), ("hydrogens", 4), ("nitrogen", 1), ("chlorine", 1),
            ("halogens", 1), ("heteroatoms", 2), ("donors_nh_oh_atoms", 1), ("acceptors_n_o", 1), ("positive_charges", 1),
            ("negative_charges", 1), ("terminal_atoms", 0), ("components", 2));
    }

    [Fact]
    public void A_lactam_on_a_bromopyridine()
    {
        Expect(Of("O=C1CCCN1c1ccncc1Br"), ("heavy_atoms", 13), ("weight_tens_of_daltons", 24), ("hydrogens", 9), ("rings", 2),
            ("aromatic_rings", 1), ("aromatic_heterocycles", 1), ("saturated_rings", 1), ("ring_heteroatoms", 2), ("rings_of_5", 1),
            ("rings_of_6", 1), ("rotatable_bonds", 1), ("bromine", 1), ("halogens", 1), ("acceptors_n_o", 3), ("donors_nh_oh_atoms", 0),
            ("sp3_carbons", 3), ("double_bonds", 1), ("terminal_atoms", 2), ("branch_atoms", 4));
    }

    [Fact]
    public void No_bond_turns_about_a_triple_bond_or_to_a_terminal_atom()
    {
        // C#C-CH2 (an sp carbon), CH2-N and ring C-CF3 are the candidates: two turn
        Expect(Of("C#CCN1CCC(CC1)C(F)(F)F"), ("rotatable_bonds", 2), ("triple_bonds", 1), ("fluorine", 3), ("quaternary_atoms", 1),
            ("saturated_rings", 1), ("weight_tens_of_daltons", 19));
    }

    [Fact]
    public void Each_set_starts_with_the_one_before_so_a_checkpoint_s_set_still_means_its_counts()
    {
        Assert.Equal(44, MoleculeDescriptors.Count(1));
        Assert.Equal(44 + GraphShape.Names.Count + FunctionalGroups.Names.Count + PolarSurfaceArea.Names.Count, MoleculeDescriptors.Count(2));
        Assert.Equal(MoleculeDescriptors.Names(1), MoleculeDescriptors.Names(2).Take(44));
        Assert.Equal(MoleculeDescriptors.Count(2), MoleculeDescriptors.Names(2).Distinct().Count());
        var aspirin = SmilesParser.Parse("CC(=O)Oc1ccccc1C(=O)O");
        Assert.Equal(MoleculeDescriptors.Counts(aspirin, 1), MoleculeDescriptors.Counts(aspirin, 2).Take(44));
        Assert.Contains("descriptor set 3", Assert.Throws<ArgumentOutOfRangeException>(() => MoleculeDescriptors.Count(3)).Message);
    }

    [Fact]
    public void Counts_past_the_device_s_codes_are_cut_to_the_largest()
    {
        // a 300-carbon chain: its heavy atoms are counted in set 1 as they are; set 2's diameter and chain are cut
        var chain = SmilesParser.Parse(new string('C', 300));
        var counts = MoleculeDescriptors.Names(2).Zip(MoleculeDescriptors.Counts(chain, 2)).ToDictionary(p => p.First, p => p.Second);
        Assert.Equal(300, counts["heavy_atoms"]);
        Assert.Equal(MoleculeDescriptors.MaxCount, counts["diameter"]);
        Assert.Equal(MoleculeDescriptors.MaxCount, counts["longest_carbon_chain"]);
    }

    [Fact]
    public void Features_with_descriptors_follow_the_fingerprint_on_the_log_scale()
    {
        var molecule = SmilesParser.Parse("CC(=O)Oc1ccccc1C(=O)O");
        var featurizer = new EcfpFeaturizer(2, 256);
        foreach (var counts in new[] { false, true })
        {
            var plain = FeatureEncoding.Encode(featurizer, molecule, new FeaturizerSpec(2, 256, counts, CountScale.Log));
            var spec = new FeaturizerSpec(2, 256, counts, CountScale.Log, Descriptors: true, DescriptorSet: 2);
            var with = FeatureEncoding.Encode(featurizer, molecule, spec);
            Assert.Equal(plain.Indices, with.Indices.Take(plain.Indices.Length));
            Assert.Equal(plain.Values, with.Values.Take(plain.Values.Length));
            var descriptors = MoleculeDescriptors.Counts(molecule, 2);
            var expected = Enumerable.Range(0, descriptors.Length).Where(d => descriptors[d] > 0).ToArray();
            Assert.Equal(expected.Select(d => 256 + d), with.Indices.Skip(plain.Indices.Length));
            Assert.Equal(expected.Select(d => MathF.Log(1 + descriptors[d])), with.Values.Skip(plain.Values.Length));
            Assert.All(with.Indices, i => Assert.InRange(i, 0, spec.FeatureSize - 1));
            Assert.Equal(256 + 44, (spec with { DescriptorSet = 1 }).FeatureSize);
        }
    }
}
