using System.Runtime.InteropServices;
using MtnnCluster.Model;

namespace MtnnCluster.Training;

/// <summary>
/// The coordinator's copy of every task's head and its AdamW moments, as of the last epoch end: what lets a lost
/// worker's tasks move to another worker, and a run resume, without starting those heads over. Plain arrays, one
/// column per task (weight is [hidden × tasks], as in a checkpoint); knows nothing of actors or devices.
/// </summary>
public sealed class HeadStore
{
    private readonly float[] _weight, _bias, _weightFirst, _biasFirst, _weightSecond, _biasSecond;
    private readonly long[] _steps;
    private readonly bool[] _known;

    public int Hidden { get; }
    public int TaskCount { get; }
    /// <summary>The largest optimizer step count of any head (each head counts its own: it steps only when a batch labels its task).</summary>
    public long OptimizerSteps => _steps.DefaultIfEmpty().Max();

    public HeadStore(int hidden, int taskCount)
    {
        Hidden = hidden;
        TaskCount = taskCount;
        _weight = new float[hidden * taskCount];
        _weightFirst = new float[hidden * taskCount];
        _weightSecond = new float[hidden * taskCount];
        _bias = new float[taskCount];
        _biasFirst = new float[taskCount];
        _biasSecond = new float[taskCount];
        _steps = new long[taskCount];
        _known = new bool[taskCount];
    }

    public bool Knows(int task) => _known[task];
    public bool KnowsAll => _known.All(k => k);

    /// <summary>Takes a worker's heads in, replacing what was held for those tasks.</summary>
    public void Merge(HeadState state)
    {
        var k = state.TaskIndices.Length;
        Require(state.Weight, [Hidden, k], "weight");
        Require(state.Bias, [k], "bias");
        if (state.Moments is { } moments)
        {
            if (moments.Length != 4) throw new InvalidDataException($"head state: {moments.Length} moment tensors, 4 expected");
            Require(moments[0], [Hidden, k], "weight first moment");
            Require(moments[1], [k], "bias first moment");
            Require(moments[2], [Hidden, k], "weight second moment");
            Require(moments[3], [k], "bias second moment");
        }
        foreach (var task in state.TaskIndices)
            if (task < 0 || task >= TaskCount) throw new InvalidDataException($"head state: task {task} outside 0..{TaskCount - 1}");
        if (state.HeadSteps is { } counts && counts.Length != k)
            throw new InvalidDataException($"head state: step counts for {counts.Length} heads, {k} expected");
        Scatter(state.Weight, _weight, state.TaskIndices);
        Scatter(state.Bias, _bias, state.TaskIndices);
        if (state.Moments is { } m)
        {
            Scatter(m[0], _weightFirst, state.TaskIndices);
            Scatter(m[1], _biasFirst, state.TaskIndices);
            Scatter(m[2], _weightSecond, state.TaskIndices);
            Scatter(m[3], _biasSecond, state.TaskIndices);
        }
        var steps = state.StepsPerHead();
        for (var j = 0; j < k; j++) (_known[state.TaskIndices[j]], _steps[state.TaskIndices[j]]) = (true, steps[j]);
    }

    /// <summary>The heads of <paramref name="tasks"/>, columns in that order; every one must be known.</summary>
    public HeadState Extract(int[] tasks, bool withMoments = true)
    {
        var missing = tasks.Where(t => t < 0 || t >= TaskCount || !_known[t]).ToArray();
        if (missing.Length > 0) throw new InvalidOperationException($"no heads held for tasks {string.Join(',', missing.Take(10))}");
        return new HeadState(tasks, Gather(_weight, tasks, "heads.weight", true), Gather(_bias, tasks, "heads.bias", false),
            withMoments
                ? [Gather(_weightFirst, tasks, "adam.m.0", true), Gather(_biasFirst, tasks, "adam.m.1", false),
                   Gather(_weightSecond, tasks, "adam.v.0", true), Gather(_biasSecond, tasks, "adam.v.1", false)]
                : null,
            tasks.Select(t => _steps[t]).DefaultIfEmpty().Max(), tasks.Select(t => _steps[t]).ToArray());
    }

    public HeadStore Clone()
    {
        var copy = new HeadStore(Hidden, TaskCount);
        foreach (var (from, to) in Pairs(copy)) from.CopyTo(to, 0);
        _steps.CopyTo(copy._steps, 0);
        _known.CopyTo(copy._known, 0);
        return copy;
    }

    /// <summary>
    /// All tasks as tensors (for a checkpoint): weight, bias, the four moments, then each head's step count as
    /// float32 (exact to 2^24 steps; by then β^t is 0 in float32, so a count past it corrects nothing more).
    /// </summary>
    public TensorData[] ToTensors()
    {
        if (!KnowsAll) throw new InvalidOperationException("a head store with unknown tasks cannot be saved");
        var all = Enumerable.Range(0, TaskCount).ToArray();
        var state = Extract(all);
        var steps = _steps.Select(s => (float)Math.Min(s, 1 << 24)).ToArray();
        return [state.Weight, state.Bias, .. state.Moments!, new TensorData("heads.steps", [TaskCount], MemoryMarshal.AsBytes(steps.AsSpan()).ToArray())];
    }

    /// <summary>
    /// The store from <see cref="ToTensors"/>'s seven tensors, or from the six of a checkpoint written before heads
    /// counted their own steps, where every head took <paramref name="optimizerSteps"/>.
    /// </summary>
    public static HeadStore FromTensors(IReadOnlyList<TensorData> tensors, long optimizerSteps)
    {
        if (tensors.Count is not (6 or 7) || tensors[0].Shape.Length != 2) throw new InvalidDataException($"head store: {tensors.Count} tensors, 7 (or 6) expected");
        var store = new HeadStore(tensors[0].Shape[0], tensors[0].Shape[1]);
        long[]? steps = null;
        if (tensors.Count == 7)
        {
            Require(tensors[6], [store.TaskCount], "step counts");
            steps = MemoryMarshal.Cast<byte, float>(tensors[6].Bytes).ToArray().Select(s => (long)s).ToArray();
        }
        store.Merge(new HeadState(Enumerable.Range(0, store.TaskCount).ToArray(), tensors[0], tensors[1], [.. tensors.Skip(2).Take(4)], optimizerSteps, steps));
        return store;
    }

    private IEnumerable<(float[] From, float[] To)> Pairs(HeadStore other) =>
    [
        (_weight, other._weight), (_bias, other._bias), (_weightFirst, other._weightFirst), (_biasFirst, other._biasFirst),
        (_weightSecond, other._weightSecond), (_biasSecond, other._biasSecond),
    ];

    /// <summary>Columns of a [hidden × k] (or [k]) tensor into the store's [hidden × tasks] (or [tasks]) array.</summary>
    private void Scatter(TensorData source, float[] target, int[] tasks)
    {
        var values = MemoryMarshal.Cast<byte, float>(source.Bytes);
        var k = tasks.Length;
        var rows = values.Length / Math.Max(k, 1);
        for (var h = 0; h < rows; h++)
            for (var j = 0; j < k; j++)
                target[h * TaskCount + tasks[j]] = values[h * k + j];
    }

    private TensorData Gather(float[] source, int[] tasks, string name, bool matrix)
    {
        var k = tasks.Length;
        var rows = matrix ? Hidden : 1;
        var values = new float[rows * k];
        for (var h = 0; h < rows; h++)
            for (var j = 0; j < k; j++)
                values[h * k + j] = source[h * TaskCount + tasks[j]];
        return new TensorData(name, matrix ? [Hidden, k] : [k], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    private static void Require(TensorData tensor, int[] shape, string what)
    {
        if (!tensor.Shape.SequenceEqual(shape) || tensor.Bytes.LongLength != shape.Aggregate(1L, (a, b) => a * b) * sizeof(float))
            throw new InvalidDataException($"head state: {what} has shape [{string.Join(',', tensor.Shape)}] ({tensor.Bytes.Length} bytes), [{string.Join(',', shape)}] expected");
    }
}
