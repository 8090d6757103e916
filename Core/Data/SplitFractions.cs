namespace MtnnCluster.Data;

/// <summary>Shares of the rows for training, validation and test; each at least 0, summing to 1.</summary>
public sealed record SplitFractions(double Train = 0.8, double Valid = 0.1, double Test = 0.1)
{
    private const double SumTolerance = 1e-6;

    // Get-only, so a `with` expression cannot skip the check.
    public double Train { get; } = Checked(Train, Valid, Test);
    public double Valid { get; } = Valid;
    public double Test { get; } = Test;

    /// <summary>Row counts for <paramref name="rowCount"/> rows: each within one row of its share, summing to the total.</summary>
    internal (int Train, int Valid, int Test) Sizes(int rowCount)
    {
        // Rounding the cumulative boundaries keeps every size within one row and the total exact.
        var train = (int)Math.Round(Train * rowCount);
        var trainAndValid = Math.Max(train, (int)Math.Round((Train + Valid) * rowCount));
        trainAndValid = Math.Min(trainAndValid, rowCount);
        return (train, trainAndValid - train, rowCount - trainAndValid);
    }

    private static double Checked(double train, double valid, double test)
    {
        if (!(train >= 0 && valid >= 0 && test >= 0) || Math.Abs(train + valid + test - 1) > SumTolerance)
            throw new ArgumentException(
                $"Split fractions must each be at least 0 and sum to 1; got train {train}, valid {valid}, test {test}.");
        return train;
    }
}
