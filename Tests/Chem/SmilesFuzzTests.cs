using System.Text;
using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

/// <summary>Random and mutated SMILES must be answered with a SmilesException or a molecule, nothing else.</summary>
public sealed class SmilesFuzzTests
{
    private const string Alphabet = "CNOSPFIBrlcnospb[]()=#$:/\\@+-.%0123456789H*Hse ";

    private static readonly string[] Seeds =
    [
        "CCOc1ccc2nc(S(N)(=O)=O)sc2c1", "CC[C@]1(O)CC[C@H]2[C@@H]3CCC4=CCCC[C@@H]4[C@H]3CC[C@@]21C",
        "O=C(O)c1ccccc1OC(=O)C", "[13CH3+]", "C%10CCCCC%10", "c1cc[nH]c1", "[Na+].[O-]C(=O)C",
        "CN(=O)=O", "O=n1ccccc1", "F[B-](F)(F)F", "c1ccc2[se]ccc2c1", "NC12CC3CC(CC(C3)C1)C2",
    ];

    [Fact]
    public void NeverThrowsAnythingButSmilesException()
    {
        var random = new Random(20240611);
        var parsed = 0;
        for (var i = 0; i < 4000; i++)
        {
            var smiles = i % 2 == 0 ? RandomString(random) : Mutate(Seeds[random.Next(Seeds.Length)], random);
            var accepted = false;
            try
            {
                var molecule = SmilesParser.Parse(smiles);
                _ = new EcfpFeaturizer().SetBits(molecule);
                _ = MurckoScaffold.Key(molecule);
                _ = MoleculeDescriptors.Counts(molecule, MoleculeDescriptors.LatestSet);
                var graph = GraphFeatures.Of(molecule);
                for (var a = 0; a < graph.AtomCount; a++)
                {
                    _ = graph.AtomVector(a);
                }
                for (var b = 0; b < graph.BondCount; b++)
                {
                    _ = graph.BondVector(b);
                }
                accepted = true;
                parsed++;
            }
            catch (SmilesException)
            {
            }
            Assert.Equal(accepted, SmilesParser.TryParse(smiles, out _, out _)); // both entry points judge alike
        }
        // the strings are seeded: the same ones parse every time; a change here is a change of the parser
        Assert.Equal(ParsedOfTheSeededStrings, parsed);
    }

    private const int ParsedOfTheSeededStrings = 204;

    private static string RandomString(Random random)
    {
        var text = new StringBuilder();
        var length = random.Next(0, 30);
        for (var i = 0; i < length; i++)
        {
            text.Append(Alphabet[random.Next(Alphabet.Length)]);
        }
        return text.ToString();
    }

    private static string Mutate(string seed, Random random)
    {
        var text = new StringBuilder(seed);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits && text.Length > 0; e++)
        {
            var at = random.Next(text.Length);
            switch (random.Next(3))
            {
                case 0:
                    text.Remove(at, 1);
                    break;
                case 1:
                    text.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                    break;
                default:
                    text[at] = Alphabet[random.Next(Alphabet.Length)];
                    break;
            }
        }
        return text.ToString();
    }
}
