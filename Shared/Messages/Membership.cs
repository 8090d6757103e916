using MessagePack;

namespace MtnnCluster.Messages;

/// <summary>
/// Worker → coordinator: I exist, on this device, with this many slots of capacity. <see cref="Nonce"/>: a random
/// value of this worker incarnation that only the coordinator sees; its answer echoes it, so that a stranger
/// cannot pose as the coordinator by sending <see cref="WorkerRegistered"/>.
/// </summary>
[MessagePackObject]
public sealed record RegisterWorker(
    [property: Key(0)] string WorkerId,
    [property: Key(1)] string Device,
    [property: Key(2)] int Slots,
    [property: Key(3)] string? ExchangeEndpoint = null,
    [property: Key(4)] string? Nonce = null) : IMtnnMessage;

/// <summary>Coordinator → worker: registration seen; <see cref="Nonce"/> is the registration's, echoed.</summary>
[MessagePackObject]
public sealed record WorkerRegistered([property: Key(0)] string WorkerId, [property: Key(1)] string? Nonce = null) : IMtnnMessage;
