namespace MtnnCluster.Data;

public enum Split
{
    Train,
    Valid,
    Test,
}

/// <summary>Which split each row of a dataset belongs to; every row is in exactly one.</summary>
public sealed class SplitAssignment
{
    private readonly Split[] _splitOf;

    /// <summary>The three row sets must together hold each of 0..n-1 exactly once; they are copied and sorted.</summary>
    public SplitAssignment(IEnumerable<int> train, IEnumerable<int> valid, IEnumerable<int> test)
    {
        Train = Sorted(train);
        Valid = Sorted(valid);
        Test = Sorted(test);
        _splitOf = new Split[Train.Length + Valid.Length + Test.Length];
        var assigned = new bool[_splitOf.Length];
        Assign(Train, Split.Train, assigned);
        Assign(Valid, Split.Valid, assigned);
        Assign(Test, Split.Test, assigned);
    }

    /// <summary>Row indices, ascending.</summary>
    public int[] Train { get; }

    public int[] Valid { get; }

    public int[] Test { get; }

    public int RowCount => _splitOf.Length;

    public Split Of(int row) => _splitOf[row];

    public int[] Rows(Split split) => split switch
    {
        Split.Train => Train,
        Split.Valid => Valid,
        Split.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, null),
    };

    private void Assign(int[] rows, Split split, bool[] assigned)
    {
        foreach (var row in rows)
        {
            if ((uint)row >= (uint)assigned.Length)
                throw new ArgumentException(
                    $"Row {row} ({split}) is outside 0..{assigned.Length - 1}; the splits must cover each row once.");
            if (assigned[row])
                throw new ArgumentException($"Row {row} is in two splits.");
            assigned[row] = true;
            _splitOf[row] = split;
        }
    }

    private static int[] Sorted(IEnumerable<int> rows)
    {
        var array = rows.ToArray();
        Array.Sort(array);
        return array;
    }
}
