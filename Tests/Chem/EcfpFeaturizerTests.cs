using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

public sealed class EcfpFeaturizerTests
{
    private readonly EcfpFeaturizer _ecfp4 = new();

    // Methane: one atom, one environment. Ethane: both carbons share one radius-0 identifier, and
    // at radius 1 both cover the same single bond, so only one survives; radius 2 adds nothing.
    // Benzene: every atom looks alike at each radius: one identifier per radius.
    // Ethanol: three radius-0 atoms, three distinct radius-1 bond sets, and at radius 2 every
    // environment covers both bonds, already seen at radius 1 around the middle carbon.
    [Theory]
    [InlineData("C", 1)]
    [InlineData("CC", 2)]
    [InlineData("c1ccccc1", 3)]
    [InlineData("CCO", 6)]
    [InlineData("[Na+].[Cl-]", 2)]
    public void CountsDistinctEnvironments(string smiles, int expected)
    {
        Assert.Equal(expected, _ecfp4.Environments(SmilesParser.Parse(smiles)).Count);
    }

    [Fact]
    public void RadiusZeroSeesOnlyAtoms()
    {
        var radiusZero = new EcfpFeaturizer(radius: 0);

        Assert.Equal(3, radiusZero.Environments(SmilesParser.Parse("CCO")).Count);
        Assert.Equal(2, radiusZero.Environments(SmilesParser.Parse("CCCC")).Count); // CH3 and CH2
        Assert.Single(radiusZero.Environments(SmilesParser.Parse("c1ccccc1")));
    }

    [Fact]
    public void SetBitsAreSortedDistinctAndFolded()
    {
        var featurizer = new EcfpFeaturizer(radius: 2, bits: 64);
        var molecule = SmilesParser.Parse("CC(=O)Oc1ccccc1C(=O)O");

        var bits = featurizer.SetBits(molecule);

        Assert.Equal(bits.Distinct().Order(), bits);
        Assert.All(bits, b => Assert.InRange(b, 0, 63));
        Assert.Equal(featurizer.Environments(molecule).Select(id => (int)(id % 64)).Distinct().Count(), bits.Length);
    }

    [Fact]
    public void CountsEveryAtomAtRadiusZeroAndEachNewBondSetAbove()
    {
        var counts = _ecfp4.Counts(SmilesParser.Parse("CC"));

        // Two carbons at radius 0 on one bit, one environment at radius 1.
        Assert.Equal(3, counts.Values.Sum());
        Assert.Contains(2, counts.Values);
        Assert.Equal(_ecfp4.SetBits(SmilesParser.Parse("CC")), counts.Keys.Order().ToArray());
    }

    [Fact]
    public void TellsApartDifferentMolecules()
    {
        var benzene = _ecfp4.SetBits(SmilesParser.Parse("c1ccccc1"));
        var cyclohexane = _ecfp4.SetBits(SmilesParser.Parse("C1CCCCC1"));
        var hexadiene = _ecfp4.SetBits(SmilesParser.Parse("C1=CCC=CC1"));

        Assert.NotEqual(benzene, cyclohexane);
        Assert.NotEqual(cyclohexane, hexadiene);
    }

    [Fact]
    public void IgnoresAtomOrder()
    {
        var first = _ecfp4.SetBits(SmilesParser.Parse("OC(=O)c1ccccc1N"));
        var second = _ecfp4.SetBits(SmilesParser.Parse("Nc1ccccc1C(O)=O"));

        Assert.Equal(first, second);
    }

    [Fact]
    public void SeesIsotopesAndCharges()
    {
        Assert.NotEqual(_ecfp4.SetBits(SmilesParser.Parse("[2H]C")), _ecfp4.SetBits(SmilesParser.Parse("[H]C")));
        Assert.NotEqual(_ecfp4.SetBits(SmilesParser.Parse("C[NH3+]")), _ecfp4.SetBits(SmilesParser.Parse("CN")));
    }

    [Fact]
    public void RejectsBadSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EcfpFeaturizer(radius: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EcfpFeaturizer(bits: 0));
    }
}
