using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

/// <summary>Functional groups by hand, on molecules that have one or two each.</summary>
public sealed class FunctionalGroupsTests
{
    private static void Expect(string smiles, params (string Name, int Value)[] expected)
    {
        var counts = FunctionalGroups.Names.Zip(FunctionalGroups.Counts(SmilesParser.Parse(smiles))).ToDictionary(p => p.First, p => p.Second);
        var named = expected.ToDictionary(e => e.Name, e => e.Value);
        Assert.All(named.Keys, name => Assert.Contains(name, counts.Keys));
        // every group not named is absent
        foreach (var (name, count) in counts)
            Assert.True(count == named.GetValueOrDefault(name), $"{smiles} {name}: {count}, expected {named.GetValueOrDefault(name)}");
    }

    [Fact] public void Aspirin() => Expect("CC(=O)Oc1ccccc1C(=O)O", ("carboxylic_acids", 1), ("esters", 1));
    [Fact] public void Paracetamol() => Expect("CC(=O)Nc1ccc(O)cc1", ("amides", 1), ("phenols", 1));
    [Fact] public void Acrylonitrile() => Expect("C=CC#N", ("michael_acceptors", 1), ("nitriles", 1));
    [Fact] public void Methyl_vinyl_ketone() => Expect("C=CC(C)=O", ("michael_acceptors", 1), ("ketones", 1));
    [Fact] public void Chloronitrobenzene() => Expect("O=[N+]([O-])c1ccc(Cl)cc1", ("nitro_groups", 1), ("aryl_halides", 1));
    [Fact] public void Ethanolamine() => Expect("NCCO", ("primary_amines", 1), ("aliphatic_hydroxyls", 1));
    [Fact] public void Triethylamine() => Expect("CCN(CC)CC", ("tertiary_amines", 1));
    [Fact] public void Aniline() => Expect("Nc1ccccc1", ("primary_amines", 1), ("aryl_amines", 1));
    [Fact] public void Diethyl_ether_and_an_epoxide() => Expect("CCOCC.C1CO1", ("ethers", 2), ("three_membered_heterocycles", 1));
    [Fact] public void Pyridine_and_pyrrole() => Expect("c1ccncc1.c1cc[nH]c1", ("pyridine_like_n", 1), ("pyrrole_like_n", 1));
    [Fact] public void Sulfur() => Expect("CS(C)(=O)=O.CS.CSC.NC(N)=S", ("sulfonyls", 1), ("thiols", 1), ("thioethers", 1), ("thiocarbonyls", 1));
    [Fact] public void Urea_is_an_amide_and_a_urea() => Expect("NC(N)=O", ("amides", 1), ("carbamates_and_ureas", 1));
    [Fact] public void Aldehydes() => Expect("CC=O.C=O", ("aldehydes", 2));
    [Fact] public void An_alkyl_halide_and_a_quaternary_ammonium() => Expect("CCCl.C[N+](C)(C)C", ("alkyl_halides", 1), ("quaternary_nitrogens", 1));
    [Fact] public void Azobenzene() => Expect("c1ccccc1N=Nc1ccccc1", ("n_n_bonds", 1));
    [Fact] public void An_oxime() => Expect("CC(C)=NO", ("c_n_double_bonds", 1));
    [Fact] public void Biphenyl() => Expect("c1ccc(cc1)-c1ccccc1", ("biaryl_bonds", 1));
    [Fact] public void Trimethyl_phosphate() => Expect("COP(=O)(OC)OC", ("phosphoryls", 1));
}
