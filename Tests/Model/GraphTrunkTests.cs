using System.Runtime.InteropServices;
using MtnnCluster.Chem;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Model;

/// <summary>
/// The graph trunk against a plain re-statement of chemprop's bond message passing (loops over atoms and directed
/// bonds in double precision), and the properties a data-parallel run relies on: a molecule's embedding does not
/// depend on the batch it is in, training and evaluation forwards agree, molecules without bonds and very large ones work.
/// </summary>
public sealed class GraphTrunkTests
{
    private static MoleculeGraph Graph(string smiles)
    {
        Assert.True(SmilesParser.TryParse(smiles, out var molecule, out var error), error);
        return GraphFeatures.Of(molecule!);
    }

    private static MoleculeInputs Inputs(params string[] smiles) => new(smiles.Select(_ => new SparseFeatures([], [])).ToArray(), 0, smiles.Select(Graph).ToArray());

    private static float[] Floats(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();

    private static double[,] Matrix(Tensor t)
    {
        var values = Floats(t);
        var (rows, columns) = ((int)t.shape[0], (int)t.shape[1]);
        var m = new double[rows, columns];
        for (var i = 0; i < rows; i++) for (var j = 0; j < columns; j++) m[i, j] = values[i * columns + j];
        return m;
    }

    /// <summary>Σ_k x[k] w[k, j] for a dense input vector.</summary>
    private static double[] Times(double[] x, double[,] w, int fromRow = 0)
    {
        var result = new double[w.GetLength(1)];
        for (var k = 0; k < x.Length; k++)
            if (x[k] != 0) for (var j = 0; j < result.Length; j++) result[j] += x[k] * w[fromRow + k, j];
        return result;
    }

    private static double[] Relu(double[] v) => v.Select(x => Math.Max(0, x)).ToArray();
    private static double[] Add(double[] a, double[] b) => a.Zip(b, (x, y) => x + y).ToArray();

    /// <summary>The D-MPNN written as chemprop describes it, one molecule, from the trunk's own weights.</summary>
    private static double[] Reference(MoleculeGraph g, GraphTrunk trunk)
    {
        var p = trunk.Parameters.Select(t => t.dim() == 2 ? Matrix(t) : null).ToArray();
        var (wi, wh, wo) = (p[0]!, p[1]!, p[2]!);
        var bo = Floats(trunk.Parameters[3]).Select(x => (double)x).ToArray();
        var x = Enumerable.Range(0, g.AtomCount).Select(a => g.AtomVector(a).Select(v => (double)v).ToArray()).ToArray();
        var e = Enumerable.Range(0, g.BondCount).Select(b => g.BondVector(b).Select(v => (double)v).ToArray()).ToArray();
        // directed bonds u→v with the bond they run along
        var directed = new List<(int From, int To, int Bond)>();
        for (var b = 0; b < g.BondCount; b++)
        {
            directed.Add((g.BondAtoms[2 * b], g.BondAtoms[2 * b + 1], b));
            directed.Add((g.BondAtoms[2 * b + 1], g.BondAtoms[2 * b], b));
        }
        var initial = directed.Select(d => Add(Times(x[d.From], wi), Times(e[d.Bond], wi, GraphFeatures.AtomFeatureCount))).ToArray();
        var h = initial.Select(Relu).ToArray();
        for (var step = 1; step < trunk.Depth; step++)
        {
            var next = new double[directed.Count][];
            for (var i = 0; i < directed.Count; i++)
            {
                var (u, v, _) = directed[i];
                var message = new double[trunk.Hidden];
                for (var k = 0; k < directed.Count; k++)
                    if (directed[k].To == u && directed[k].From != v) message = Add(message, h[k]); // into u, but not back from v
                next[i] = Relu(Add(initial[i], Times(message, wh)));
            }
            h = next;
        }
        var molecule = new double[trunk.Hidden];
        for (var a = 0; a < g.AtomCount; a++)
        {
            var incoming = new double[trunk.Hidden];
            for (var k = 0; k < directed.Count; k++) if (directed[k].To == a) incoming = Add(incoming, h[k]);
            var state = Relu(Add(Add(Times(x[a], wo), Times(incoming, wo, GraphFeatures.AtomFeatureCount)), bo));
            molecule = Add(molecule, state);
        }
        molecule = molecule.Select(m => m / Math.Max(1, g.AtomCount)).ToArray();
        var w = p[4]!;
        var b0 = Floats(trunk.Parameters[5]).Select(v => (double)v).ToArray();
        return Relu(Add(Times(molecule, w), b0));
    }

    [Theory]
    [InlineData("CCO", 3)]
    [InlineData("c1ccncc1C(=O)N", 3)]
    [InlineData("CC1CC1(Cl)C#N", 4)]
    [InlineData("[Na+].[Cl-]", 3)]
    [InlineData("C", 2)]
    public void The_embedding_is_chemprop_s_bond_message_passing(string smiles, int depth)
    {
        using var trunk = new GraphTrunk(depth, 16, GraphReadout.Mean, 0, [8], 3, CPU);
        using var rows = trunk.Store(Inputs(smiles), [0], CPU);
        using var _ = no_grad();
        var embedded = Floats(trunk.Embed(rows));
        var expected = Reference(Graph(smiles), trunk);
        Assert.Equal(expected.Length, embedded.Length);
        for (var j = 0; j < expected.Length; j++) Assert.Equal(expected[j], embedded[j], 1e-4);
        Assert.Contains(embedded, v => v != 0); // not a dead network by chance
    }

    [Fact]
    public void A_molecule_s_embedding_does_not_depend_on_its_batch_and_training_agrees_with_evaluation()
    {
        string[] smiles = ["CCO", "c1ccccc1O", "[Na+].[Cl-]", "CC(=O)Nc1ccc(O)cc1", "C", "OC(=O)CCC(=O)O"];
        using var trunk = new GraphTrunk(3, 24, GraphReadout.Sum, 0, [16, 8], 5, CPU);
        using var rows = trunk.Store(Inputs(smiles), Enumerable.Range(0, smiles.Length).ToArray(), CPU);
        using var scope = NewDisposeScope();
        var all = Floats(trunk.Embed(rows));
        // training forward (no dropout) of a few rows in another order
        var some = Floats(trunk.Forward(rows, [4, 1, 3], null));
        int[] order = [4, 1, 3];
        for (var i = 0; i < order.Length; i++)
            for (var j = 0; j < 8; j++) Assert.Equal(all[order[i] * 8 + j], some[i * 8 + j], 1e-5);
    }

    [Fact]
    public void Every_parameter_learns_and_dropout_comes_from_the_batch_s_masks()
    {
        using var trunk = new GraphTrunk(3, 12, GraphReadout.Mean, 0, [10, 6], 1, CPU) { LayerDropout = 0.3 };
        using var rows = trunk.Store(Inputs("CCO", "c1ccccc1N", "CC(C)=O", "O=C(O)c1ccccc1"), [0, 1, 2, 3], CPU);
        using var scope = NewDisposeScope();
        using var generator = new Generator(42);
        // the whole batch's masks drawn, rows 1 and 3 taken: as a worker owning those rows of a batch of 4 does
        var mine = trunk.Forward(rows, [1, 3], new BatchDropout(generator, 4, tensor(new long[] { 1, 3 })));
        generator.manual_seed(42);
        var whole = trunk.Forward(rows, [0, 1, 2, 3], new BatchDropout(generator, 4, null));
        var (a, b) = (Floats(mine), Floats(whole));
        for (var j = 0; j < 6; j++)
        {
            Assert.Equal(b[6 + j], a[j], 1e-5);
            Assert.Equal(b[18 + j], a[6 + j], 1e-5);
        }
        whole.sum().backward();
        foreach (var p in trunk.Parameters) Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, "a parameter received no gradient");
    }

    [Fact]
    public void Molecule_features_enter_beside_the_readout_and_a_large_molecule_is_embedded_in_bounded_chunks()
    {
        // a 3,000-atom chain beside small molecules: evaluation chunks by atoms, so it is a chunk of its own
        var chain = string.Concat(Enumerable.Repeat("C", 3000));
        string[] smiles = ["CCO", chain, "c1ccccc1"];
        var features = new[] { new SparseFeatures([0, 3], [1f, 2f]), new SparseFeatures([1], [0.5f]), new SparseFeatures([], []) };
        var inputs = new MoleculeInputs(features, 4, smiles.Select(Graph).ToArray());
        using var withFeatures = new GraphTrunk(2, 8, GraphReadout.Mean, 4, [6], 9, CPU);
        using var rows = withFeatures.Store(inputs, [0, 1, 2], CPU);
        using var scope = NewDisposeScope();
        var embedded = Floats(withFeatures.Embed(rows));
        Assert.All(embedded, v => Assert.True(float.IsFinite(v)));
        var one = Floats(withFeatures.Forward(rows, [1], null));
        for (var j = 0; j < 6; j++) Assert.Equal(embedded[6 + j], one[j], 1e-4);
        // the features matter: zeroing them changes the first molecule's embedding
        var without = new MoleculeInputs([new SparseFeatures([], []), features[1], features[2]], 4, inputs.Graphs);
        using var rowsWithout = withFeatures.Store(without, [0], CPU);
        Assert.NotEqual(embedded.Take(6), Floats(withFeatures.Embed(rowsWithout)));
    }

    [Fact]
    public void The_parameters_are_drawn_from_the_seed_alone_and_survive_export_and_load()
    {
        using var a = new GraphTrunk(3, 10, GraphReadout.Mean, 5, [7], 11, CPU);
        using var b = new GraphTrunk(3, 10, GraphReadout.Mean, 5, [7], 11, CPU);
        using var c = new GraphTrunk(3, 10, GraphReadout.Mean, 5, [7], 12, CPU);
        var (ea, eb, ec) = (a.Export(), b.Export(), c.Export());
        Assert.Equal(GraphTrunk.TensorCount(5, 1), ea.Length);
        Assert.Equal(GraphTrunk.ParameterCount(10, 5, [7]), ea.Sum(t => t.ElementCount));
        for (var i = 0; i < ea.Length; i++) Assert.Equal(ea[i].Bytes, eb[i].Bytes);
        Assert.NotEqual(ea[0].Bytes, ec[0].Bytes);
        c.Load(ea);
        Assert.Equal(ea.Select(t => t.Bytes), c.Export().Select(t => t.Bytes));
        Assert.Equal(ea.Select(t => t.Name), ea.Select(t => t.Name).Distinct());
    }

    [Fact]
    public void Stored_graphs_take_few_bytes_per_molecule()
    {
        var smiles = File.ReadLines(RepoPaths.File("examples/tox21.csv")).Skip(1).Take(500).Select(l => l.Split(',')[0]).ToArray();
        var graphs = smiles.Select(s => SmilesParser.TryParse(s, out var m, out _) ? GraphFeatures.Of(m!) : null).Where(g => g is not null).ToArray();
        using var trunk = new GraphTrunk(3, 8, GraphReadout.Mean, 0, [4], 1, CPU);
        using var rows = (DeviceGraphs)trunk.Store(new MoleculeInputs(graphs.Select(_ => new SparseFeatures([], [])).ToArray(), 0, graphs!), Enumerable.Range(0, graphs.Length).ToArray(), CPU);
        var perMolecule = (double)rows.StoredBytes / rows.RowCount;
        // about 11 bytes an atom and 4 a bond on the device, ~20 atoms a molecule: far under a fingerprint's 256 packed bytes
        Assert.InRange(perMolecule, 50, 600);
        Assert.InRange(rows.HostBytesPerRow, 16, 400);
    }
}
