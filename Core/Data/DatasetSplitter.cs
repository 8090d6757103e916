namespace MtnnCluster.Data;

/// <summary>Seeded train/valid/test splits of a dataset's rows.</summary>
public static class DatasetSplitter
{
    /// <summary>Rows shuffled with the seed, then cut at the fractions (each size within one row).</summary>
    public static SplitAssignment Random(int rowCount, SplitFractions fractions, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        var rows = Enumerable.Range(0, rowCount).ToArray();
        new SplitMix64(seed).Shuffle(rows);
        var (train, valid, _) = fractions.Sizes(rowCount);
        return new SplitAssignment(rows[..train], rows[train..(train + valid)], rows[(train + valid)..]);
    }

    /// <summary>
    /// Consecutive blocks of rows (their sizes in order), each split as <see cref="Random(int, SplitFractions, int)"/>
    /// would split it alone: a block's split does not depend on the blocks after it. One block is that split.
    /// </summary>
    public static SplitAssignment Random(IReadOnlyList<int> blockSizes, SplitFractions fractions, int seed)
    {
        List<int> train = [], valid = [], test = [];
        var offset = 0;
        foreach (var size in blockSizes)
        {
            var block = Random(size, fractions, seed);
            train.AddRange(block.Train.Select(r => r + offset));
            valid.AddRange(block.Valid.Select(r => r + offset));
            test.AddRange(block.Test.Select(r => r + offset));
            offset += size;
        }
        return new SplitAssignment(train, valid, test);
    }

    /// <summary>
    /// Bemis–Murcko scaffold split, balanced as in chemprop: rows sharing a scaffold key stay in one split.
    /// Scaffold groups larger than half the valid or test size are placed first (they would swamp a small
    /// split), the rest after them, each set in seeded random order; groups fill train, then valid, then
    /// test, each taking a group only while it fits. The empty key (acyclic molecules) is one group like
    /// any other. Sizes follow the fractions only as closely as the groups allow.
    /// </summary>
    /// <param name="scaffoldKeys">One key per row, e.g. its canonical Murcko scaffold SMILES.</param>
    public static SplitAssignment Scaffold(IReadOnlyList<string> scaffoldKeys, SplitFractions fractions, int seed)
    {
        var (trainSize, validSize, testSize) = fractions.Sizes(scaffoldKeys.Count);
        var groups = GroupByKey(scaffoldKeys);
        var big = groups.Where(IsBig).ToList();
        var small = groups.Where(group => !IsBig(group)).ToList();
        var random = new SplitMix64(seed);
        random.Shuffle(big);
        random.Shuffle(small);

        List<int> train = [], valid = [], test = [];
        foreach (var group in big.Concat(small))
        {
            var target = train.Count + group.Count <= trainSize ? train
                : valid.Count + group.Count <= validSize ? valid
                : test;
            target.AddRange(group);
        }
        return new SplitAssignment(train, valid, test);

        bool IsBig(List<int> group) => group.Count > validSize / 2.0 || group.Count > testSize / 2.0;
    }

    /// <summary>Row groups in order of each key's first row, so the grouping itself is deterministic.</summary>
    private static List<List<int>> GroupByKey(IReadOnlyList<string> keys)
    {
        var groupOf = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var groups = new List<List<int>>();
        for (var row = 0; row < keys.Count; row++)
        {
            if (!groupOf.TryGetValue(keys[row], out var group))
            {
                group = [];
                groupOf.Add(keys[row], group);
                groups.Add(group);
            }
            group.Add(row);
        }
        return groups;
    }
}
