using System.IO.Compression;
using System.Text.Json;
using MtnnCluster.Chem;
using Xunit;

namespace MtnnCluster.Tests.Chem;

/// <summary>
/// chemprop v2's atom and bond features on hand-checked molecules (every value below was worked out from RDKit's
/// rules and agrees with RDKit 2025.03), the dense vectors' layout, and every Tox21 molecule featurizing cleanly.
/// </summary>
public sealed class GraphFeaturesTests
{
    [Fact]
    public void LayoutMatchesChempropV2()
    {
        Assert.Equal(1, GraphFeatures.Version);
        Assert.Equal(72, GraphFeatures.AtomFeatureCount);
        Assert.Equal(14, GraphFeatures.BondFeatureCount);
        Assert.Equal(GraphFeatures.AtomFeatureCount, GraphFeatures.AtomFeatureNames.Count);
        Assert.Equal(GraphFeatures.BondFeatureCount, GraphFeatures.BondFeatureNames.Count);
        Assert.Equal(GraphFeatures.AtomFeatureCount, GraphFeatures.AtomFeatureNames.Distinct().Count());
        Assert.Equal(GraphFeatures.BondFeatureCount, GraphFeatures.BondFeatureNames.Distinct().Count());
        // block starts: 38 atomic numbers, 7 degrees, 6 charges, 5 chiral tags, 6 H counts, 8 hybridizations
        Assert.Equal("atom:H", GraphFeatures.AtomFeatureNames[0]);
        Assert.Equal("atom:Kr", GraphFeatures.AtomFeatureNames[35]);
        Assert.Equal("atom:I", GraphFeatures.AtomFeatureNames[36]);
        Assert.Equal("atom:other", GraphFeatures.AtomFeatureNames[37]);
        Assert.Equal("degree:0", GraphFeatures.AtomFeatureNames[38]);
        Assert.Equal("charge:-1", GraphFeatures.AtomFeatureNames[45]);
        Assert.Equal("charge:0", GraphFeatures.AtomFeatureNames[49]);
        Assert.Equal("chiral:unspecified", GraphFeatures.AtomFeatureNames[51]);
        Assert.Equal("hydrogens:0", GraphFeatures.AtomFeatureNames[56]);
        Assert.Equal("hybridization:S", GraphFeatures.AtomFeatureNames[62]);
        Assert.Equal("hybridization:other", GraphFeatures.AtomFeatureNames[69]);
        Assert.Equal("aromatic", GraphFeatures.AtomFeatureNames[70]);
        Assert.Equal("mass/100", GraphFeatures.AtomFeatureNames[71]);
        Assert.Equal("bond:single", GraphFeatures.BondFeatureNames[1]);
        Assert.Equal("conjugated", GraphFeatures.BondFeatureNames[5]);
        Assert.Equal("in-ring", GraphFeatures.BondFeatureNames[6]);
        Assert.Equal("stereo:e", GraphFeatures.BondFeatureNames[10]);
        Assert.Equal("stereo:other", GraphFeatures.BondFeatureNames[13]);
    }

    [Theory]
    [InlineData("CC(=O)O", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        // the OH's lone pair is conjugated with C=O: SP2, as RDKit has it
        "atom:O degree:2 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2",
    }, new[] { "0-1 bond:single stereo:none", "1-2 bond:double conjugated stereo:none", "1-3 bond:single conjugated stereo:none" })]
    [InlineData("c1ccncc1", new[]
    {
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:N degree:2 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
    }, new[] { "2-3 bond:aromatic conjugated in-ring stereo:none", "0-5 bond:aromatic conjugated in-ring stereo:none" })]
    [InlineData("c1cc[nH]c1", new[]
    {
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:N degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
    }, new[] { "2-3 bond:aromatic conjugated in-ring stereo:none" })]
    [InlineData("NC(=O)c1ccccc1", new[]
    {
        "atom:N degree:3 charge:0 chiral:unspecified hydrogens:2 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2 aromatic",
    }, new[]
    {
        "0-1 bond:single conjugated stereo:none", "1-2 bond:double conjugated stereo:none",
        "1-3 bond:single conjugated stereo:none", "3-8 bond:aromatic conjugated in-ring stereo:none",
    })]
    [InlineData("CC#N", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:C degree:2 charge:0 chiral:unspecified hydrogens:0 hybridization:SP",
        "atom:N degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP",
    }, new[] { "0-1 bond:single stereo:none", "1-2 bond:triple stereo:none" })] // a lone triple bond conjugates with nothing
    [InlineData("[Na+].[Cl-]", new[]
    {
        "atom:Na degree:0 charge:+1 chiral:unspecified hydrogens:0 hybridization:S",
        "atom:Cl degree:0 charge:-1 chiral:unspecified hydrogens:0 hybridization:SP3", // four lone pairs
    }, new string[0])]
    [InlineData("[NH4+]", new[] { "atom:N degree:4 charge:+1 chiral:unspecified hydrogens:4 hybridization:SP3" }, new string[0])]
    [InlineData("[Fe+2]", new[] { "atom:Fe degree:0 charge:+2 chiral:unspecified hydrogens:0 hybridization:SP2" }, new string[0])]
    [InlineData("[Al+3]", new[] { "atom:Al degree:0 charge:other chiral:unspecified hydrogens:0 hybridization:S" }, new string[0])]
    [InlineData("C/C=C/C", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2",
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
    }, new[] { "0-1 bond:single stereo:none", "1-2 bond:double stereo:e", "2-3 bond:single stereo:none" })]
    [InlineData("C[C@H](N)O", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:C degree:4 charge:0 chiral:ccw hydrogens:1 hybridization:SP3",
        "atom:N degree:3 charge:0 chiral:unspecified hydrogens:2 hybridization:SP3",
        "atom:O degree:2 charge:0 chiral:unspecified hydrogens:1 hybridization:SP3",
    }, new[] { "1-2 bond:single stereo:none" })]
    [InlineData("CS(C)=O", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:S degree:3 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3", // three bonds and a lone pair
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
    }, new[] { "1-3 bond:double stereo:none" })] // a hypervalent S is not conjugated
    [InlineData("OP(=O)(O)O", new[]
    {
        "atom:O degree:2 charge:0 chiral:unspecified hydrogens:1 hybridization:SP3",
        "atom:P degree:4 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:2 charge:0 chiral:unspecified hydrogens:1 hybridization:SP3",
        "atom:O degree:2 charge:0 chiral:unspecified hydrogens:1 hybridization:SP3",
    }, new[] { "0-1 bond:single stereo:none", "1-2 bond:double stereo:none" })]
    [InlineData("C[N+](=O)[O-]", new[]
    {
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:N degree:3 charge:+1 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:-1 chiral:unspecified hydrogens:0 hybridization:SP2",
    }, new[] { "0-1 bond:single stereo:none", "1-2 bond:double conjugated stereo:none", "1-3 bond:single conjugated stereo:none" })]
    [InlineData("CN(=O)=O", new[]
    {
        // the hypervalent spelling is charge-separated first, as RDKit does: the same nitro group
        "atom:C degree:4 charge:0 chiral:unspecified hydrogens:3 hybridization:SP3",
        "atom:N degree:3 charge:+1 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:-1 chiral:unspecified hydrogens:0 hybridization:SP2",
        "atom:O degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP2",
    }, new[] { "1-2 bond:single conjugated stereo:none", "1-3 bond:double conjugated stereo:none" })]
    [InlineData("FS(F)(F)(F)(F)F", new[]
    {
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:S degree:other charge:0 chiral:unspecified hydrogens:0 hybridization:SP3D2",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
    }, new[] { "0-1 bond:single stereo:none" })]
    [InlineData("F[Pt@SP1](F)(Cl)Cl", new[]
    {
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        // square-planar tag (RDKit's 6) falls in the unknown slot; it sets the hybridization
        "atom:other degree:4 charge:0 chiral:other hydrogens:0 hybridization:SP2D",
        "atom:F degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:Cl degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
        "atom:Cl degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP3",
    }, new[] { "0-1 bond:single stereo:none" })]
    [InlineData("C=CC=C", new[]
    {
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:2 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:1 hybridization:SP2",
        "atom:C degree:3 charge:0 chiral:unspecified hydrogens:2 hybridization:SP2",
    }, new[] { "0-1 bond:double conjugated stereo:none", "1-2 bond:single conjugated stereo:none" })]
    public void HandCheckedMolecules(string smiles, string[] atoms, string[] bonds)
    {
        var graph = GraphFeatures.Of(SmilesParser.Parse(smiles));
        Assert.Equal(atoms, Enumerable.Range(0, graph.AtomCount).Select(a => DescribeAtom(graph, a)).ToArray());
        foreach (var expected in bonds)
        {
            var pair = expected[..expected.IndexOf(' ')].Split('-').Select(int.Parse).ToArray();
            Assert.Equal(expected, $"{pair[0]}-{pair[1]} {DescribeBond(graph, FindBond(graph, pair[0], pair[1]))}");
        }
    }

    [Theory]
    [InlineData("C/C=C/C", "e")]
    [InlineData("C/C=C\\C", "z")]
    [InlineData("F/C=C/F", "e")]
    [InlineData("C(/C)=C/C", "z")] // a mark before the double bond's first atom points the other way
    [InlineData("CC/C=C(/C)CC", "z")] // the marked C is not the higher-ranked neighbour: the ethyl decides
    [InlineData("C/C=C(/C)C", "none")] // two methyls on one end: no stereo
    [InlineData("C1CC/C=C/CC1", "none")] // rings under 8 atoms are left alone
    [InlineData("C1CCC/C=C/CCC1", "e")]
    [InlineData("CC=CC", "none")]
    public void DoubleBondStereoFollowsRdkit(string smiles, string stereo)
    {
        var molecule = SmilesParser.Parse(smiles);
        var graph = GraphFeatures.Of(molecule);
        var doubleBond = molecule.Bonds.Single(b => b.Order == BondOrder.Double).Index;
        Assert.Equal("stereo:" + stereo, GraphFeatures.BondFeatureNames[graph.BondColumns[doubleBond * 4 + 3]]);
    }

    [Theory]
    [InlineData("C[C@H](N)O", 1, "ccw")]
    [InlineData("C[C@@H](N)O", 1, "cw")]
    [InlineData("[C@H](F)(Cl)Br", 0, "cw")] // the bracket H of a first atom counts as a swap
    [InlineData("F[C@H](Cl)Br", 1, "ccw")]
    [InlineData("[H][C@](F)(Cl)Br", 0, "cw")] // the [H] atom folded into the count
    [InlineData("C[C@H](C)O", 1, "unspecified")] // two methyls: not a stereocentre
    [InlineData("CC(C)[C@H]1CC[C@@H](C)CC1", 3, "cw")] // cis/trans ring stereo keeps both tags
    [InlineData("CC(C)[C@H]1CC[C@@H](C)CC1", 6, "cw")]
    [InlineData("CC1CCC[S@@]1=O", 5, "ccw")] // the ring closure comes last in RDKit's bond order
    [InlineData("CC1CCC[S@@+]1C", 5, "cw")] // three single bonds and one closure: one more swap
    [InlineData("C1C[N@]2CC[C@H]1C(O)C2", 2, "ccw")] // a bridgehead N keeps its tag
    [InlineData("OC[C@H](O)[C@@H](O)[C@H](O)CO", 4, "cw")] // pseudo-asymmetric: told apart after re-ranking
    public void ChiralTagsFollowRdkit(string smiles, int atom, string tag)
    {
        var graph = GraphFeatures.Of(SmilesParser.Parse(smiles));
        Assert.Equal("chiral:" + tag, GraphFeatures.AtomFeatureNames[graph.AtomColumns[atom * 7 + 3]]);
    }

    [Fact]
    public void DenseVectorsSetTheColumnsAndTheMass()
    {
        var acetic = GraphFeatures.Of(SmilesParser.Parse("CC(=O)O"));
        var methyl = acetic.AtomVector(0);
        Assert.Equal([5, 42, 49, 51, 59, 66, 71], NonZero(methyl));
        Assert.Equal(0.12011f, methyl[71], 6);
        Assert.Equal(6, methyl.Take(71).Sum()); // six one-hot blocks, not aromatic

        var pyridine = GraphFeatures.Of(SmilesParser.Parse("c1ccncc1"));
        var nitrogen = pyridine.AtomVector(3);
        Assert.Equal([6, 40, 49, 51, 56, 64, 70, 71], NonZero(nitrogen));
        Assert.Equal(0.14007f, nitrogen[71], 6);
        Assert.Equal([4, 5, 6, 7], NonZero(pyridine.BondVector(0)));

        var sodium = GraphFeatures.Of(SmilesParser.Parse("[Na+].[Cl-]")).AtomVector(0);
        Assert.Equal([10, 38, 47, 51, 56, 62, 71], NonZero(sodium));

        var butene = GraphFeatures.Of(SmilesParser.Parse("C/C=C/C"));
        Assert.Equal([2, 10], NonZero(butene.BondVector(1)));
        Assert.Equal([1, 7], NonZero(butene.BondVector(0)));

        // a quadruple bond has no type column, as in chemprop
        var dimolybdenum = GraphFeatures.Of(SmilesParser.Parse("[Mo]$[Mo]"));
        Assert.Equal(MoleculeGraph.NoColumn, dimolybdenum.BondColumns[0]);
        Assert.Equal([7], NonZero(dimolybdenum.BondVector(0)));
        Assert.Equal("atom:other degree:1 charge:0 chiral:unspecified hydrogens:0 hybridization:SP", DescribeAtom(dimolybdenum, 0));

        Assert.Throws<ArgumentOutOfRangeException>(() => acetic.AtomVector(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => acetic.BondVector(-1));
    }

    [Theory]
    [InlineData("[2H]C", 0, 2.014101778)] // the isotope's mass, as RDKit's GetMass
    [InlineData("[13CH4]", 0, 13.00335484)]
    [InlineData("CCl", 1, 35.453)]
    [InlineData("[Na+].[Cl-]", 0, 22.99)]
    public void MassIsRdkits(string smiles, int atom, double mass)
    {
        var graph = GraphFeatures.Of(SmilesParser.Parse(smiles));
        Assert.Equal((float)(0.01 * mass), graph.AtomMass[atom]);
        Assert.Equal(graph.AtomMass[atom], graph.AtomVector(atom)[71]);
    }

    [Fact]
    public void ArraysHaveTheDocumentedShape()
    {
        var molecule = SmilesParser.Parse("CC(=O)Nc1ccc(O)cc1");
        var graph = GraphFeatures.Of(molecule);
        Assert.Equal(molecule.Atoms.Count, graph.AtomCount);
        Assert.Equal(molecule.Bonds.Count, graph.BondCount);
        Assert.Equal(graph.AtomCount * GraphFeatures.AtomColumnsPerAtom, graph.AtomColumns.Length);
        Assert.Equal(graph.AtomCount, graph.AtomMass.Length);
        Assert.Equal(graph.BondCount * 2, graph.BondAtoms.Length);
        Assert.Equal(graph.BondCount * GraphFeatures.BondColumnsPerBond, graph.BondColumns.Length);
        for (var b = 0; b < graph.BondCount; b++)
        {
            Assert.Equal((molecule.Bonds[b].Begin, molecule.Bonds[b].End), (graph.BondAtoms[2 * b], graph.BondAtoms[2 * b + 1]));
        }
    }

    /// <summary>Every Tox21 molecule the parser accepts featurizes, with one column inside each block.</summary>
    [Fact]
    public void EveryTox21MoleculeFeaturizesWithinItsBlocks()
    {
        int[] blockStarts = [0, 38, 45, 51, 56, 62, 70, 71];
        var featurized = 0;
        foreach (var smiles in Tox21Smiles())
        {
            if (!SmilesParser.TryParse(smiles, out var molecule, out _))
            {
                continue;
            }
            var graph = GraphFeatures.Of(molecule);
            for (var a = 0; a < graph.AtomCount; a++)
            {
                for (var k = 0; k < 6; k++)
                {
                    var column = graph.AtomColumns[a * 7 + k];
                    Assert.InRange((int)column, blockStarts[k], blockStarts[k + 1] - 1);
                }
                Assert.Contains(graph.AtomColumns[a * 7 + 6], new[] { (byte)70, MoleculeGraph.NoColumn });
                Assert.InRange(graph.AtomMass[a], 0.01f, 2.5f);
            }
            for (var b = 0; b < graph.BondCount; b++)
            {
                Assert.InRange((int)graph.BondColumns[b * 4], 1, 4);
                Assert.Contains(graph.BondColumns[b * 4 + 1], new[] { (byte)5, MoleculeGraph.NoColumn });
                Assert.Contains(graph.BondColumns[b * 4 + 2], new[] { (byte)6, MoleculeGraph.NoColumn });
                Assert.InRange((int)graph.BondColumns[b * 4 + 3], 7, 13);
            }
            featurized++;
        }
        Assert.Equal(7823, featurized); // the molecules the parser accepts (RdkitOracleTests)
    }

    private static IEnumerable<string> Tox21Smiles()
    {
        using var file = File.OpenRead(RepoPaths.File("Tests/Data/tox21_rdkit_morgan_r2.jsonl.gz"));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        while (reader.ReadLine() is { } line)
        {
            using var json = JsonDocument.Parse(line);
            yield return json.RootElement.GetProperty("smiles").GetString()!;
        }
    }

    private static string DescribeAtom(MoleculeGraph graph, int atom) => string.Join(" ",
        graph.AtomColumns.Skip(atom * 7).Take(7).Where(c => c != MoleculeGraph.NoColumn)
            .Select(c => GraphFeatures.AtomFeatureNames[c]));

    private static string DescribeBond(MoleculeGraph graph, int bond) => string.Join(" ",
        graph.BondColumns.Skip(bond * 4).Take(4).Where(c => c != MoleculeGraph.NoColumn)
            .Select(c => GraphFeatures.BondFeatureNames[c]));

    private static int FindBond(MoleculeGraph graph, int first, int second)
    {
        for (var b = 0; b < graph.BondCount; b++)
        {
            var (u, v) = (graph.BondAtoms[2 * b], graph.BondAtoms[2 * b + 1]);
            if ((u, v) == (first, second) || (u, v) == (second, first))
            {
                return b;
            }
        }
        throw new InvalidOperationException($"no bond {first}-{second}");
    }

    private static int[] NonZero(float[] vector) =>
        Enumerable.Range(0, vector.Length).Where(i => vector[i] != 0f).ToArray();
}
