using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

/// <summary>The graph's shape by hand; diameters, mean distances and spiro atoms agree with RDKit (distance matrix, CalcNumSpiroAtoms).</summary>
public sealed class GraphShapeTests
{
    private static Dictionary<string, int> Of(string smiles) =>
        GraphShape.Names.Zip(GraphShape.Counts(SmilesParser.Parse(smiles))).ToDictionary(p => p.First, p => p.Second);

    private static void Expect(string smiles, params (string Name, int Value)[] expected)
    {
        var counts = Of(smiles);
        foreach (var (name, value) in expected) Assert.True(counts[name] == value, $"{smiles} {name}: {counts[name]}, expected {value}");
    }

    [Fact]
    public void Hexane_is_a_chain() =>
        // 15 pairs, 35 bonds between them in all: the mean distance is 2.33
        Expect("CCCCCC", ("diameter", 5), ("mean_distance_halves", 5), ("ring_systems", 0), ("largest_ring_system_atoms", 0),
            ("ring_junction_atoms", 0), ("spiro_atoms", 0), ("longest_carbon_chain", 6));

    [Fact]
    public void Fused_rings_are_one_system_and_rings_on_a_bond_are_two() =>
        Expect("c1ccc2ccccc2c1", ("diameter", 5), ("mean_distance_halves", 5), ("ring_systems", 1), ("largest_ring_system_atoms", 10),
            ("ring_junction_atoms", 2), ("spiro_atoms", 0), ("longest_carbon_chain", 0));

    [Fact]
    public void Biphenyl_has_two_ring_systems() =>
        Expect("c1ccc(cc1)-c1ccccc1", ("diameter", 7), ("mean_distance_halves", 6), ("ring_systems", 2), ("largest_ring_system_atoms", 6),
            ("ring_junction_atoms", 0));

    [Fact]
    public void A_spiro_atom_joins_two_rings_at_itself() =>
        Expect("C1CCC2(C1)CCCCC2", ("ring_systems", 1), ("largest_ring_system_atoms", 10), ("ring_junction_atoms", 1), ("spiro_atoms", 1),
            ("diameter", 5), ("mean_distance_halves", 5));

    [Fact]
    public void Ibuprofen_s_longest_chain_outside_the_ring_has_three_carbons() =>
        Expect("CC(C)Cc1ccc(cc1)C(C)C(=O)O", ("diameter", 9), ("mean_distance_halves", 8), ("longest_carbon_chain", 3), ("ring_systems", 1));

    [Fact]
    public void Distances_are_taken_within_a_component() =>
        // cyclohexane and ethanol: RDKit's mean over connected pairs is 1.72
        Expect("C1CCCCC1.CCO", ("diameter", 3), ("mean_distance_halves", 3), ("ring_systems", 1), ("longest_carbon_chain", 2));
}
