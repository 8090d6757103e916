namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// Tests that start mtnn processes or train full datasets run one at a time: on a 2-core machine, several at once
/// starve each other's failure detectors (heartbeats delayed by seconds) and turn timings into noise.
/// </summary>
public static class Processes
{
    public const string Collection = "processes";
}
