using MessagePack;

namespace MtnnCluster.Messages;

/// <summary>Worker → coordinator: I exist, on this device, with this many slots of capacity.</summary>
[MessagePackObject]
public sealed record RegisterWorker(
    [property: Key(0)] string WorkerId,
    [property: Key(1)] string Device,
    [property: Key(2)] int Slots,
    [property: Key(3)] string? ExchangeEndpoint = null) : IMtnnMessage;

/// <summary>Coordinator → worker: registration seen.</summary>
[MessagePackObject]
public sealed record WorkerRegistered([property: Key(0)] string WorkerId) : IMtnnMessage;
