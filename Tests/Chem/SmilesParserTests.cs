using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

public sealed class SmilesParserTests
{
    [Theory]
    [InlineData("CCO", new[] { 3, 2, 1 })]
    [InlineData("c1ccccc1", new[] { 1, 1, 1, 1, 1, 1 })]
    [InlineData("c1cc[nH]c1", new[] { 1, 1, 1, 1, 1 })]
    [InlineData("c1ccncc1", new[] { 1, 1, 1, 0, 1, 1 })]
    [InlineData("C[N+](C)(C)C", new[] { 3, 0, 3, 3, 3 })]
    [InlineData("[O-]C=O", new[] { 0, 1, 0 })]
    [InlineData("CC(=O)O", new[] { 3, 0, 0, 1 })]
    [InlineData("C#N", new[] { 1, 0 })]
    [InlineData("CS(=O)(=O)C", new[] { 3, 0, 0, 0, 3 })]
    [InlineData("OP(O)(O)=O", new[] { 1, 0, 1, 1, 0 })]
    [InlineData("ClCBr", new[] { 0, 2, 0 })]
    [InlineData("[NH4+]", new[] { 4 })]
    [InlineData("[CH2]", new[] { 2 })]
    public void CountsHydrogens(string smiles, int[] hydrogens)
    {
        var molecule = SmilesParser.Parse(smiles);

        Assert.Equal(hydrogens, molecule.Atoms.Select(a => a.TotalHydrogens));
    }

    [Fact]
    public void ReadsBracketAtoms()
    {
        var atom = SmilesParser.Parse("[13CH3+]").Atoms.Single();

        Assert.Equal((6, 13, 1, 3, true),
            (atom.AtomicNumber, atom.Isotope, atom.FormalCharge, atom.ExplicitHydrogens, atom.IsBracket));
    }

    [Theory]
    [InlineData("[Na+]", 11, 1)]
    [InlineData("[Fe+2]", 26, 2)]
    [InlineData("[Fe++]", 26, 2)]
    [InlineData("[O-2]", 8, -2)]
    [InlineData("[O--]", 8, -2)]
    [InlineData("[Cl-]", 17, -1)]
    [InlineData("[Zn]", 30, 0)]
    [InlineData("[U+3]", 92, 3)]
    public void ReadsElementsAndCharges(string smiles, int atomicNumber, int charge)
    {
        var atom = SmilesParser.Parse(smiles).Atoms.Single();

        Assert.Equal((atomicNumber, charge), (atom.AtomicNumber, atom.FormalCharge));
    }

    [Theory]
    [InlineData("[se]1cccc1", 34)]
    [InlineData("c1cc[as]cc1", 33)]
    [InlineData("[te]1cccc1", 52)]
    public void ReadsAromaticBracketSymbols(string smiles, int atomicNumber)
    {
        var molecule = SmilesParser.Parse(smiles);

        Assert.Contains(molecule.Atoms, a => a.AtomicNumber == atomicNumber);
        Assert.Equal(1, molecule.RingCount);
    }

    [Fact]
    public void KeepsIsotopicHydrogensAsAtomsAndFoldsPlainOnes()
    {
        var deuterated = SmilesParser.Parse("[2H]C([2H])([2H])O");
        var plain = SmilesParser.Parse("[H]C([H])([H])O");

        Assert.Equal(5, deuterated.Atoms.Count);
        Assert.Equal(2, deuterated.HeavyAtomCount);
        Assert.Equal(2, plain.Atoms.Count);
        Assert.Equal(3, plain.Atoms[0].TotalHydrogens);
    }

    [Theory]
    [InlineData("C%10CCCCC%10")]
    [InlineData("C%(123)CCCCC%(123)")]
    [InlineData("C1CCCCC1")]
    [InlineData("C=1CCCCC1")]
    [InlineData("C1CCCCC=1")]
    [InlineData("C0CCCCC0")]
    public void ClosesRings(string smiles)
    {
        var molecule = SmilesParser.Parse(smiles);

        Assert.Equal(6, molecule.Bonds.Count);
        Assert.Equal(1, molecule.RingCount);
    }

    [Fact]
    public void RingClosureBondSymbolSetsTheOrder()
    {
        var molecule = SmilesParser.Parse("C=1CCCCC1");

        Assert.Equal(1, molecule.Bonds.Count(b => b.Order == BondOrder.Double));
    }

    [Fact]
    public void SplitsComponentsAtDots()
    {
        var salt = SmilesParser.Parse("CC(=O)[O-].[Na+]");

        Assert.Equal(2, salt.ComponentCount);
        Assert.Equal(5, salt.HeavyAtomCount);
    }

    [Theory]
    [InlineData("C[C@H](N)C(=O)O", "CC(N)C(=O)O")]
    [InlineData("C[C@@H](N)C(=O)O", "CC(N)C(=O)O")]
    [InlineData("C/C=C/C", "CC=CC")]
    [InlineData("F/C=C\\F", "FC=CF")]
    [InlineData("C[C@TH1H](N)O", "CC(N)O")]
    [InlineData("[CH3:1][OH:2]", "CO")]
    [InlineData("CCO ethanol", "CCO")]
    public void IgnoresStereoMarksClassesAndNames(string smiles, string plain)
    {
        var featurizer = new EcfpFeaturizer();

        Assert.Equal(featurizer.Environments(SmilesParser.Parse(plain)).Order(),
            featurizer.Environments(SmilesParser.Parse(smiles)).Order());
    }

    [Theory]
    [InlineData("C1=CC=CC=C1", "c1ccccc1")]
    [InlineData("C1=CC=C2C=CC=CC2=C1", "c1ccc2ccccc2c1")]
    [InlineData("C1=CNC=C1", "c1cc[nH]c1")]
    [InlineData("O=C1C=CC=CN1", "O=c1cccc[nH]1")]
    [InlineData("CN(=O)=O", "C[N+](=O)[O-]")]
    [InlineData("O=n1ccccc1", "[O-][n+]1ccccc1")]
    public void KekuleAndAromaticSpellingsGiveOneMolecule(string first, string second)
    {
        var a = SmilesParser.Parse(first);
        var b = SmilesParser.Parse(second);
        var featurizer = new EcfpFeaturizer();

        Assert.Equal(b.AromaticRingCount, a.AromaticRingCount);
        Assert.Equal(b.Atoms.Select(x => (x.AtomicNumber, x.IsAromatic, x.TotalHydrogens, x.FormalCharge)).Order(),
            a.Atoms.Select(x => (x.AtomicNumber, x.IsAromatic, x.TotalHydrogens, x.FormalCharge)).Order());
        Assert.Equal(featurizer.Environments(b).Order(), featurizer.Environments(a).Order());
    }

    [Fact]
    public void PerceivesBenzeneAsAromatic()
    {
        var benzene = SmilesParser.Parse("C1=CC=CC=C1");

        Assert.All(benzene.Atoms, a => Assert.True(a.IsAromatic));
        Assert.All(benzene.Bonds, b => Assert.Equal(BondOrder.Aromatic, b.Order));
        Assert.Equal(1, benzene.AromaticRingCount);
    }

    [Theory]
    [InlineData("c1ccccc1", 1, 1)]
    [InlineData("c1ccc2ccccc2c1", 2, 2)]
    [InlineData("c1ccc2[nH]ccc2c1", 2, 2)]
    [InlineData("C1CCCCC1", 1, 0)]
    [InlineData("O=C1C=CC(=O)C=C1", 1, 0)]
    [InlineData("C1=CC=CC=CC=C1", 1, 0)]
    [InlineData("c1ccc2c(c1)Cc1ccccc1-2", 3, 2)]
    [InlineData("NC12CC3CC(CC(C3)C1)C2", 4, 0)]
    [InlineData("C12C3C4C1C5C2C3C45", 6, 0)]
    [InlineData("C1CC2CCC1C2", 2, 0)]
    [InlineData("C1CCC2(CC1)CCCC2", 2, 0)]
    [InlineData("CCO", 0, 0)]
    public void CountsRingsLikeRdkit(string smiles, int rings, int aromaticRings)
    {
        var molecule = SmilesParser.Parse(smiles);

        Assert.Equal((rings, aromaticRings), (molecule.RingCount, molecule.AromaticRingCount));
    }

    [Fact]
    public void ExposesRingAtomsAndBonds()
    {
        var toluene = SmilesParser.Parse("Cc1ccccc1");

        Assert.False(toluene.IsRingAtom(0));
        Assert.True(toluene.IsRingAtom(1));
        Assert.False(toluene.IsRingBond(0));
        Assert.Equal(6, toluene.Rings.Single().Count);
        Assert.Equal(6, toluene.RingBonds.Single().Count);
        Assert.Equal(1, toluene.CyclomaticNumber);
    }

    [Theory]
    [InlineData("", "no atoms")]
    [InlineData("C1CC", "ring 1 is never closed")]
    [InlineData("C(C", "'(' is never closed")]
    [InlineData("CC)C", "')' without a matching '('")]
    [InlineData("C()C", "empty branch")]
    [InlineData("[C", "'[' is never closed")]
    [InlineData("[Xx]", "element symbol")]
    [InlineData("[CH3", "'[' is never closed")]
    [InlineData("C==C", "two bond symbols")]
    [InlineData("CC=", "ends with a bond")]
    [InlineData("C.", "ends with '.'")]
    [InlineData(".C", "'.' must separate")]
    [InlineData("C11", "closes on the atom that opened it")]
    [InlineData("C12CCC12", "two bonds between the same pair")]
    [InlineData("C=1CCC#1", "two different bond orders")]
    [InlineData("C%1CC%1", "two digits")]
    [InlineData("C?", "unexpected character")]
    [InlineData("*C", "wildcard")]
    [InlineData("C(C)(C)(C)(C)C", "valence 5")]
    [InlineData("CN(C)(C)C", "valence 4")]
    [InlineData("O=C=O=C", "valence")]
    [InlineData("c1cccc1", "kekulize")]
    [InlineData("c1ccnc1", "kekulize")]
    [InlineData("cc", "outside any ring")]
    [InlineData("CC(=O)O[AlH3](O)O", "valence 6")]
    public void RejectsInvalidSmiles(string smiles, string reason)
    {
        var error = Assert.Throws<SmilesException>(() => SmilesParser.Parse(smiles));

        Assert.Contains(reason, error.Message);
        Assert.Contains("position", error.Message);
        Assert.False(SmilesParser.TryParse(smiles, out var molecule, out var message));
        Assert.Null(molecule);
        Assert.Equal(error.Message, message);
    }

    [Fact]
    public void RejectsNull()
    {
        Assert.Throws<SmilesException>(() => SmilesParser.Parse(null!));
        Assert.False(SmilesParser.TryParse(null, out _, out _));
    }

    [Theory]
    [InlineData("C[N+](C)(C)C")]
    [InlineData("CP(C)(C)=O")]
    [InlineData("CS(C)(=O)=O")]
    [InlineData("F[B-](F)(F)F")]
    [InlineData("[Cu+2].[O-]S([O-])(=O)=O")]
    [InlineData("CC1(C)CCCC(C)(C)N1[O]")]
    [InlineData("c1ccc2c(c1)ccc1ccccc12")]
    [InlineData("Cn1ccnc1")]
    [InlineData("c1ccc2cc3ccccc3cc2c1")]
    public void AcceptsValidSmiles(string smiles)
    {
        Assert.True(SmilesParser.TryParse(smiles, out var molecule, out var error), error);
        Assert.NotNull(molecule);
    }
}
