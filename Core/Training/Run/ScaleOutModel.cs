namespace MtnnCluster.Training.Run;

/// <summary>
/// One worker and its network, as the cost model sees them (SI units: seconds, bytes per second, FLOP per second).
/// </summary>
/// <param name="FlopsPerSecond">Effective throughput of the trunk's forward and backward on one worker.</param>
/// <param name="StepFloorSeconds">The least a step takes however few rows it has (kernel launches, host syncs).</param>
/// <param name="LinkBytesPerSecond">The worker's network link.</param>
/// <param name="SoftwareBytesPerSecond">What the TCP process group itself moves per second (framing, copies, the
/// reduction's sums): a link faster than this is not used in full.</param>
/// <param name="MessageLatencySeconds">One message's latency: the network's plus the software's.</param>
/// <param name="StagingSecondsPerByte">Per byte of the trunk gradient, the copies the step makes around the
/// all-reduce (device → host → managed array → device), summed.</param>
public sealed record ScaleOutMachine(
    double FlopsPerSecond,
    double StepFloorSeconds,
    double LinkBytesPerSecond,
    double SoftwareBytesPerSecond,
    double MessageLatencySeconds,
    double StagingSecondsPerByte)
{
    /// <summary>The wire's cost of a byte: the slower of the link and the software.</summary>
    public double SecondsPerByte => Math.Max(1 / LinkBytesPerSecond, 1 / SoftwareBytesPerSecond);
}

/// <summary>The trunk and the batch a step computes (the global batch is the same whatever the worker count).</summary>
/// <param name="TrainingFlopsPerRow">Forward and backward FLOPs of one row where a parameter is not used once per row
/// (the graph trunk applies its weights to every atom and bond); null: about 6 per trunk parameter (2 forward, 4 backward).</param>
public sealed record ScaleOutWorkload(long TrunkParameters, int Hidden, int BatchSize, int TrainRows, double? TrainingFlopsPerRow = null)
{
    public double FlopsPerRow => TrainingFlopsPerRow ?? 6.0 * TrunkParameters;
    public double TrunkBytes => 4.0 * TrunkParameters;
    public int StepsPerEpoch => RunSchedule.StepsFor(TrainRows, BatchSize);
}

/// <summary>The parts of one step on the busiest worker, in seconds.</summary>
/// <param name="AllToAll">One all-to-all of embeddings; a step makes two (embeddings out, their gradients back).</param>
/// <param name="Reduction">The ring all-reduce of the trunk gradient plus the copies around it, paid every
/// <c>--sync-every</c> steps.</param>
public sealed record StepCost(double Compute, double AllToAll, double Reduction)
{
    public double Seconds(int syncEvery = 1) => Compute + 2 * AllToAll + Reduction / syncEvery;
    public double CommunicationShare(int syncEvery = 1) => (Seconds(syncEvery) - Compute) / Seconds(syncEvery);
}

/// <summary>
/// The cost of a hybrid-parallel step (<see cref="ShardTrainer"/>) on N workers, with no overlap of communication
/// and compute (the step does none): the trunk on B/N rows, two all-to-alls of embeddings, one ring all-reduce of
/// the trunk gradient. With one worker nothing moves.
/// </summary>
public static class ScaleOutModel
{
    /// <param name="peerRowsPerOwnRow">Embedding rows the busiest worker sends or receives (the larger) per row it
    /// owns: from the dataset's labels and the task placement; 0 with one worker.</param>
    public static StepCost Step(ScaleOutWorkload work, ScaleOutMachine machine, int workers, double peerRowsPerOwnRow, int? batchSize = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        var rowsPerWorker = (double)(batchSize ?? work.BatchSize) / workers;
        var compute = Math.Max(machine.StepFloorSeconds, rowsPerWorker * work.FlopsPerRow / machine.FlopsPerSecond);
        if (workers == 1) return new StepCost(compute, 0, 0);
        // the N−1 messages of an all-to-all go at once: one latency
        var allToAll = machine.MessageLatencySeconds + rowsPerWorker * peerRowsPerOwnRow * work.Hidden * 4.0 * machine.SecondsPerByte;
        return new StepCost(compute, allToAll, RingAllReduceSeconds(work.TrunkBytes, workers, machine) + work.TrunkBytes * machine.StagingSecondsPerByte);
    }

    /// <summary>Reduce-scatter then all-gather: 2(N−1) messages of bytes/N each way, 2(N−1)/N × bytes per worker.</summary>
    public static double RingAllReduceSeconds(double bytes, int workers, ScaleOutMachine machine) =>
        workers == 1 ? 0 : 2.0 * (workers - 1) / workers * bytes * machine.SecondsPerByte + 2.0 * (workers - 1) * machine.MessageLatencySeconds;

    /// <summary>T1 / (N × TN): the steps per epoch do not depend on N, so neither does this ratio of epochs and steps.</summary>
    public static double Efficiency(StepCost one, StepCost many, int workers, int syncEvery = 1) => one.Seconds() / (workers * many.Seconds(syncEvery));

    /// <summary>
    /// The smallest <c>--sync-every K</c> whose step spends under <paramref name="share"/> of its time communicating, or
    /// null when the all-to-alls alone (which K does not thin out) already take that much.
    /// </summary>
    public static int? SmallestSyncEvery(StepCost cost, double share = 0.1)
    {
        if (cost.CommunicationShare() < share) return 1;
        // communication c = 2A + R/K is under share × (compute + c) when R/K < share/(1−share) × compute − 2A
        var room = share / (1 - share) * cost.Compute - 2 * cost.AllToAll;
        if (room <= 0) return null;
        var k = (int)Math.Min(int.MaxValue - 1, Math.Floor(cost.Reduction / room)) + 1;
        return cost.CommunicationShare(k) < share ? k : k + 1; // rounding at the boundary
    }

    /// <summary>
    /// The smallest global batch (the default doubled, up to <paramref name="largest"/>) at which N workers reach
    /// <paramref name="efficiency"/> with K = 1, or null: what B must grow to once B/N falls under the efficient batch.
    /// </summary>
    public static int? BatchForEfficiency(ScaleOutWorkload work, ScaleOutMachine machine, int workers, double peerRowsPerOwnRow,
        double efficiency = 0.9, int largest = 1 << 22)
    {
        for (long batch = work.BatchSize; batch <= largest; batch *= 2)
        {
            var b = (int)batch;
            if (Efficiency(Step(work, machine, 1, 0, b), Step(work, machine, workers, peerRowsPerOwnRow, b), workers) >= efficiency) return b;
        }
        return null;
    }
}
