using MtnnCluster.Training;

namespace MtnnCluster.Cli.Runs;

public enum GroupKind { Seeds, Ensemble }

/// <summary>
/// One run of a group: its seed and directory. <see cref="SplitFollowsSeed"/>: the split is made with the run's seed
/// (<c>--seeds</c> without <c>--split-seed</c>: each run is what <c>--seed N</c> alone would train); else every run of
/// the group has the split the options give (an ensemble's members: one test set for all).
/// </summary>
public sealed record GroupMember(string Name, int Seed, bool SplitFollowsSeed, string OutDirectory)
{
    public RunSpec Apply(RunSpec spec) => spec with { Seed = Seed, Split = SplitFollowsSeed ? spec.Split with { Seed = Seed } : spec.Split };
}

/// <summary>The same configuration trained once per seed (<c>--seeds</c>), or as the members of an ensemble (<c>--ensemble</c>).</summary>
public sealed record RunGroup(GroupKind Kind, int[] RunSeeds, bool SplitFollowsSeed)
{
    public int Count => RunSeeds.Length;

    /// <summary>How the summary names the runs: "3 seeds", "3 members".</summary>
    public string Counted => $"{Count} {(Kind == GroupKind.Seeds ? "seeds" : "members")}";

    public GroupMember Member(int index, string groupDirectory)
    {
        var name = Kind == GroupKind.Seeds ? $"seed-{RunSeeds[index]}" : $"member-{index}";
        return new GroupMember(name, RunSeeds[index], SplitFollowsSeed, Path.Combine(groupDirectory, name));
    }

    public static RunGroup Seeds(int[] seeds, int? splitSeed) => new(GroupKind.Seeds, seeds, SplitFollowsSeed: splitSeed is null);

    /// <summary>Members seeded <paramref name="seed"/>, <paramref name="seed"/>+1, …; their split stays the one of <c>--seed</c> (or <c>--split-seed</c>).</summary>
    public static RunGroup Ensemble(int seed, int members)
    {
        if (members < 2) throw new ArgumentException($"--ensemble needs at least 2 members (got {members})");
        if (seed < 0 || (long)seed + members - 1 > int.MaxValue) throw new ArgumentException($"--ensemble {members} with --seed {seed}: the members' seeds must be 0..{int.MaxValue}");
        return new(GroupKind.Ensemble, Enumerable.Range(seed, members).ToArray(), SplitFollowsSeed: false);
    }

    /// <summary>A <c>--seeds</c> list: whole numbers ≥ 0, at least one, none twice.</summary>
    public static int[] ParseSeeds(string text)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries);
        if (items.All(i => i.Length == 0)) throw new ArgumentException("--seeds: the list names no seed (give e.g. --seeds 0,1,2)");
        var seeds = items.Select(item => int.TryParse(item, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seed)
            ? seed
            : throw new ArgumentException($"--seeds: '{item}' is not a seed (a whole number ≥ 0) in '{text}'")).ToArray();
        var twice = seeds.GroupBy(s => s).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException($"--seeds: seed {twice.Key} is given twice in '{text}'");
        return seeds;
    }
}
