using System.Collections.Frozen;
using MtnnCluster.Messages;

namespace MtnnCluster.Serialization;

/// <summary>
/// The closed list of protocol messages and their short wire manifests. The wire names a code from this table,
/// never a .NET type name, so a peer cannot make us instantiate a type we did not list.
/// </summary>
public static class ProtocolRegistry
{
    /// <summary>
    /// Bumped when a message changes shape or meaning incompatibly. 2: offers and chunks carry an XxHash128 checksum
    /// (16 bytes) instead of SHA-256 (32), so a node of version 1 and one of version 2 refuse each other's messages.
    /// 3: local SGD's request is a message of its own, and core types have their own formatters.
    /// 4: hybrid parallelism: the coordinator starts rounds of steps (<see cref="TrainSteps"/>) and carries no trunk
    /// per step; workers exchange embeddings and gradients among themselves.
    /// 5: a run's end may keep its workers for the next job of a group (<see cref="EndRun.KeepWorker"/>), and
    /// add-tasks' messages (<see cref="FitHeads"/>, <see cref="HeadsFitted"/>).
    /// 6: the run spec names its descriptor set; a worker of version 5 would read it as set 1 and featurize other counts.
    /// 7: a registration carries a nonce its acknowledgement echoes (<see cref="RegisterWorker.Nonce"/>); a worker of
    /// version 6 would never take a version-7 coordinator's acknowledgement as its coordinator's.
    /// 8: the run spec names its trunk (<see cref="Training.ModelSpec.Trunk"/>, <see cref="Training.ModelSpec.Graph"/>)
    /// and its graph features; a worker of version 7 would read a graph run as a fingerprint run and train another model.
    /// </summary>
    public const int ProtocolVersion = 8;

    private static readonly (string Code, Type Type)[] Entries =
    [
        ("reg", typeof(RegisterWorker)),
        ("regd", typeof(WorkerRegistered)),
        ("start", typeof(StartRun)),
        ("ready", typeof(WorkerReady)),
        ("fail", typeof(WorkerFailed)),
        ("steps", typeof(TrainSteps)),
        ("stepsd", typeof(StepsDone)),
        ("hep", typeof(HeadEpoch)),
        ("hepd", typeof(HeadEpochDone)),
        ("eval", typeof(Evaluate)),
        ("evald", typeof(EvaluationResult)),
        ("keep", typeof(KeepBest)),
        ("restore", typeof(RestoreBest)),
        ("fetch", typeof(FetchHeads)),
        ("heads", typeof(HeadShard)),
        ("end", typeof(EndRun)),
        ("chunk", typeof(MessageChunk)),
        ("leave", typeof(WorkerLeaving)),
        ("offer", typeof(BlobOffer)),
        ("fit", typeof(FitHeads)),
        ("fitd", typeof(HeadsFitted)),
    ];

    public static readonly FrozenDictionary<string, Type> TypeByCode = Entries.ToFrozenDictionary(e => $"{e.Code}.{ProtocolVersion}", e => e.Type);
    public static readonly FrozenDictionary<Type, string> CodeByType = Entries.ToFrozenDictionary(e => e.Type, e => $"{e.Code}.{ProtocolVersion}");

    public static IEnumerable<Type> MessageTypes => Entries.Select(e => e.Type);
}
