namespace MtnnCluster.Training.Run;

/// <summary>The training loss of one epoch as the workers report it: summed losses, labels and rows, and the clock.</summary>
public sealed class EpochTally
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public double LossSum { get; private set; }
    public long Labels { get; private set; }
    public long Rows { get; private set; }
    public double Seconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Mean loss per label (NaN when no label was seen).</summary>
    public double MeanLoss => Labels > 0 ? LossSum / Labels : double.NaN;

    public void Add(double lossSum, long labels, long rows)
    {
        LossSum += lossSum;
        Labels += labels;
        Rows += rows;
    }
}
