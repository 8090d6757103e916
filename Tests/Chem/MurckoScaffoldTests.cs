using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

public sealed class MurckoScaffoldTests
{
    private static string Key(string smiles) => MurckoScaffold.Key(SmilesParser.Parse(smiles));

    [Theory]
    [InlineData("CCO")]
    [InlineData("CC(=O)O.[Na+]")]
    public void AcyclicMoleculesHaveNoScaffold(string smiles)
    {
        Assert.Equal("", Key(smiles));
    }

    [Theory]
    [InlineData("c1ccccc1", "Cc1ccccc1")]
    [InlineData("c1ccccc1", "CCc1ccc(O)cc1CCl")]
    [InlineData("c1ccccc1", "C1=CC=CC=C1")]
    [InlineData("c1ccc2ccccc2c1", "c1cc2ccccc2cc1")]
    [InlineData("c1ccccc1CCc1ccccc1", "C(Cc1ccccc1)c1ccccc1")]
    [InlineData("c1ccccc1CCc1ccccc1", "OC(c1ccccc1)C(C)c1ccc(N)cc1")]
    [InlineData("O=C1CCCN1c1ccccc1", "c1ccc(cc1)N1CCCC1=O")]
    [InlineData("CC1CCC(CC1)c1ccncc1", "c1cc(ccn1)C1CCCCC1.[Cl-]")]
    public void SameScaffoldGivesSameKey(string first, string second)
    {
        Assert.Equal(Key(first), Key(second));
    }

    [Theory]
    [InlineData("c1ccccc1", "c1ccncc1")]
    [InlineData("c1ccccc1", "C1CCCCC1")]
    [InlineData("c1ccccc1Cc1ccccc1", "c1ccccc1CCc1ccccc1")]
    [InlineData("O=C1CCCCN1", "C1CCNCC1")]
    [InlineData("c1ccc2ccccc2c1", "c1ccc(cc1)-c1ccccc1")]
    [InlineData("c1ccc2ncccc2c1", "c1ccc2cnccc2c1")]
    public void DifferentScaffoldsGiveDifferentKeys(string first, string second)
    {
        Assert.NotEqual(Key(first), Key(second));
    }
}
