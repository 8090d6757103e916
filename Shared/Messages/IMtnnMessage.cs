namespace MtnnCluster.Messages;

/// <summary>
/// Marker for every message of the MtnnCluster protocol. All of them are MessagePack contracts,
/// bound to <see cref="Serialization.MtnnMessageSerializer"/> so that nothing crosses a node (or, in tests,
/// an actor boundary) through Akka's default JSON serializer.
/// </summary>
public interface IMtnnMessage;

/// <summary>A message that belongs to one training run; a message naming another run is dropped.</summary>
public interface IRunMessage : IMtnnMessage
{
    string RunId { get; }
}
