namespace MtnnCluster.Data;

/// <summary>How a task's labels are read, trained and scored.</summary>
public enum TaskKind
{
    Classification,
    Regression,
}

/// <summary>One label column of a dataset.</summary>
public sealed record TaskInfo(string Name, TaskKind Kind);
