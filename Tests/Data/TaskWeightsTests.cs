using MtnnCluster.Data;
using MtnnCluster.Model;
using MtnnCluster.Training;
using Xunit;
using static TorchSharp.torch;

namespace MtnnCluster.Tests.Data;

/// <summary>Per-task training weights (<c>--task-weights</c>): read from a CSV, checked against the dataset, applied in the loss.</summary>
public sealed class TaskWeightsTests : IDisposable
{
    private static readonly TaskInfo[] Tasks = [new("a", TaskKind.Classification), new("b", TaskKind.Classification), new("c", TaskKind.Regression)];
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Listed_tasks_take_their_weight_and_the_others_weigh_one()
    {
        var weights = TaskWeightsFile.Read(_dir.WriteText("w.csv", "weight,task\n0.5,c\n2,a\n"), Tasks);

        Assert.Equal([2f, 1f, 0.5f], weights);
    }

    [Theory]
    [InlineData("task,weight\na,1\nzz,2\n", 3, "task", "'zz' is not a task")]
    [InlineData("task,weight\na,1\nb,-1\n", 3, "weight", "'-1' is not a finite number")]
    [InlineData("task,weight\na,1\nb,heavy\n", 3, "weight", "'heavy'")]
    [InlineData("task,weight\na,1\nb,1\na,3\n", 4, "task", "already given a weight on line 2")]
    [InlineData("task,w\na,1\n", 1, "weight", "there is no 'weight' column")]
    [InlineData("task,weight\na\n", 2, null, "expected 2 fields")]
    public void Bad_lines_name_file_line_and_column(string csv, int line, string? column, string detail)
    {
        var path = _dir.WriteText("bad.csv", csv);

        var error = Assert.Throws<DataFormatException>(() => TaskWeightsFile.Read(path, Tasks));

        Assert.Equal((path, line, column), (error.Path, error.Line, error.Column));
        Assert.Contains(detail, error.Message);
    }

    [Fact]
    public void A_prepared_dataset_carries_the_weights_of_its_tasks()
    {
        var data = _dir.WriteText("long.csv", "smiles,task,label\nCCO,a,1\nCCN,a,0\nCCC,b,1\n");
        var weights = _dir.WriteText("w.csv", "task,weight\nb,3\n");
        var spec = new RunSpec(new DatasetSpec([data], "smiles", null, null, null), new FeaturizerSpec(2, 64, false), new SplitSpec(SplitKind.Random, 0, 0.8, 0.1, 0.1),
            new ModelSpec([8], 0), new OptimizerSpec(1e-3, 0, 4, false, weights), new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0), 0);

        Assert.Equal([1f, 3f], PreparedDataset.Prepare(spec).TaskWeights);
        var unknown = _dir.WriteText("w2.csv", "task,weight\nCHEMBL1,3\n");
        Assert.Throws<DataFormatException>(() => PreparedDataset.Prepare(spec with { Optimizer = spec.Optimizer with { TaskWeights = unknown } }));
    }

    [Fact]
    public void Each_cell_loss_is_multiplied_by_its_task_weight()
    {
        // two rows, three columns (the last one regression); every cell labelled
        long[] rowStart = [0, 3, 6];
        int[] columns = [0, 1, 2, 0, 1, 2];
        float[] targets = [1, 0, 0.5f, 0, 1, -1];
        bool[] regression = [false, false, true];
        using var plain = new DeviceLabels(rowStart, columns, targets, regression, [1f, 1f, 1f], CPU);
        using var weighted = new DeviceLabels(rowStart, columns, targets, regression, [1f, 1f, 1f], CPU, [2f, 0f, 0.5f]);
        using var scope = NewDisposeScope();
        var logits = tensor(new[] { 0.3f, -1.2f, 0.1f, 2.0f, 0.4f, -0.6f });
        var index = tensor(new long[] { 0, 1 });

        var expected = MaskedLoss.PerCell(logits, plain.Batch([0, 1], index)).data<float>().ToArray();
        var actual = MaskedLoss.PerCell(logits, weighted.Batch([0, 1], index)).data<float>().ToArray();

        float[] factor = [2f, 0f, 0.5f, 2f, 0f, 0.5f];
        Assert.All(expected, value => Assert.True(value > 0));
        for (var k = 0; k < expected.Length; k++) Assert.Equal(expected[k] * factor[k], actual[k], 1e-6f);
    }
}
