namespace MtnnCluster.Training.Run;

/// <summary>
/// One epoch as the workers report it: summed losses and labels, the rows the trunk ran on (summed over workers:
/// the training rows once, whatever their number), the bytes they sent each other, and the clock.
/// </summary>
public sealed class EpochTally
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public double LossSum { get; private set; }
    public long Labels { get; private set; }
    public long Rows { get; private set; }
    public long BytesSent { get; private set; }
    public double Seconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Mean loss per label (NaN when no label was seen).</summary>
    public double MeanLoss => Labels > 0 ? LossSum / Labels : double.NaN;

    public void Add(double lossSum, long labels, long rows, long bytesSent = 0)
    {
        BytesSent += bytesSent;
        LossSum += lossSum;
        Labels += labels;
        Rows += rows;
    }
}
