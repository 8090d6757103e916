namespace MtnnCluster.Training.Run;

/// <summary>
/// Which worker computes the trunk on which rows (data parallelism): each split's rows are cut into contiguous
/// ranges, one per rank, in proportion to the ranks' slots. A pure function of the split's size and the slots, so
/// every worker derives every owner itself and nothing about rows travels.
/// </summary>
public static class RowPlacement
{
    /// <summary>Rank <paramref name="rank"/>'s positions [Start, End) among a split's <paramref name="rows"/>.</summary>
    public static (int Start, int End) Range(int rows, IReadOnlyList<int> slotsByRank, int rank)
    {
        if (slotsByRank.Count == 0 || slotsByRank.Any(s => s < 1)) throw new ArgumentException("row placement needs at least one rank, each with a slot or more");
        long total = slotsByRank.Sum(), before = 0;
        for (var r = 0; r < rank; r++) before += slotsByRank[r];
        return ((int)(rows * before / total), (int)(rows * (before + slotsByRank[rank]) / total));
    }

    /// <summary>The rank that owns each position of a split of <paramref name="rows"/>.</summary>
    public static int[] Owners(int rows, IReadOnlyList<int> slotsByRank)
    {
        var owners = new int[rows];
        for (var rank = 0; rank < slotsByRank.Count; rank++)
        {
            var (start, end) = Range(rows, slotsByRank, rank);
            Array.Fill(owners, rank, start, end - start);
        }
        return owners;
    }
}

/// <summary>
/// One worker's place in a run attempt: its rank among <see cref="SlotsByRank"/>.Length workers, which rank owns
/// each dataset task (<see cref="TaskRanks"/>), and so which tasks are its own. Rows follow from
/// <see cref="RowPlacement"/>.
/// </summary>
public sealed record ShardLayout(int Rank, int[] SlotsByRank, int[] TaskRanks)
{
    public int Size => SlotsByRank.Length;
    public int[] OwnTasks() => Enumerable.Range(0, TaskRanks.Length).Where(t => TaskRanks[t] == Rank).ToArray();

    /// <summary>The layout of every worker of an assignment, ranked in worker-id order (the order peers are listed in).</summary>
    public static IReadOnlyDictionary<string, ShardLayout> Of(IReadOnlyDictionary<string, int[]> assignment, IReadOnlyDictionary<string, int> slots, int taskCount)
    {
        var workers = assignment.Keys.OrderBy(w => w, StringComparer.Ordinal).ToArray();
        var taskRanks = Enumerable.Repeat(-1, taskCount).ToArray();
        for (var rank = 0; rank < workers.Length; rank++)
            foreach (var task in assignment[workers[rank]]) taskRanks[task] = rank;
        var slotsByRank = workers.Select(w => slots[w]).ToArray();
        return workers.Select((w, rank) => (w, rank)).ToDictionary(x => x.w, x => new ShardLayout(x.rank, slotsByRank, taskRanks), StringComparer.Ordinal);
    }
}
