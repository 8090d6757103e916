using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;
using MtnnCluster.Telemetry;

namespace MtnnCluster.Transport;

/// <summary>
/// Settings under <c>mtnn.data-plane</c>. Hosts default to the node's remoting address: the listener binds where
/// Akka binds and is announced by the name other nodes reach this node by.
/// </summary>
public sealed record DataPlaneSettings(bool Enabled, string BindHost, string PublicHost, long MaxBlobBytes, TimeSpan Expiry,
    TimeSpan ConnectTimeout, TimeSpan IoTimeout, int MaxConcurrentFetches, int Port = 0)
{
    public const string Section = "mtnn.data-plane";

    public static DataPlaneSettings From(Config config, string? remotingHost)
    {
        string Host(string key) => config.GetString($"{Section}.{key}", "") is { Length: > 0 } h ? h : remotingHost ?? "127.0.0.1";
        return new DataPlaneSettings(
            config.GetBoolean($"{Section}.enabled", true),
            Host("bind-host"),
            Host("public-host"),
            config.GetByteSize($"{Section}.max-blob-bytes", 1L << 30) ?? 1L << 30,
            config.GetTimeSpan($"{Section}.expiry", TimeSpan.FromMinutes(2)),
            config.GetTimeSpan($"{Section}.connect-timeout", TimeSpan.FromSeconds(10)),
            config.GetTimeSpan($"{Section}.io-timeout", TimeSpan.FromSeconds(60)),
            config.GetInt($"{Section}.max-concurrent-fetches", 8),
            config.GetInt($"{Section}.port", 0));
    }
}

/// <summary>
/// The TCP data plane of one actor system: Akka carries a small <see cref="BlobOffer"/>, the bytes of the large
/// message travel over a plain TCP stream (measured on loopback: Akka remoting 80–290 MB/s, a plain socket over 1 GB/s). The
/// sender keeps the serialized message in its <see cref="BlobStore"/>, served by one listener started on first
/// use (a single-process run never opens it); the receiver fetches, verifies length and checksum, deserializes and
/// tells the message to its actor with the original sender, off the actor's thread. A failed fetch is logged and
/// counted; the run's fault handling deals with the round it belonged to.
/// <para>
/// Bounds: an offer is fetched only from the host of the node that sent it (never wherever an offer says); at most
/// <see cref="DataPlaneSettings.MaxConcurrentFetches"/> threads fetch, from a queue of at most
/// <see cref="MaxQueuedOffers"/> offers (more are refused and counted); the client allocates as the bytes arrive
/// (<see cref="BlobClient"/>), and the server holds at most <see cref="BlobServer.MaxConnections"/> connections.
/// </para>
/// </summary>
public sealed class DataPlane : IExtension, IDisposable
{
    private readonly MtnnMessageSerializer _serializer;
    private readonly ILoggingAdapter _log;
    private readonly BlobStore _store;
    private readonly Lazy<BlobServer> _server;
    private readonly Timer _sweeper;
    private readonly SemaphoreSlim _fetchSlots;
    private readonly System.Collections.Concurrent.ConcurrentQueue<(BlobOffer Offer, IActorRef Self, IActorRef Sender)> _queue = new();
    private int _queued, _fetchers, _peakFetchers;
    private long _offered, _fetched, _fetchedBytes, _failed, _refused;

    /// <summary>Offers waiting for a fetch thread; one more is refused (a flood of offers costs neither threads nor memory).</summary>
    public const int MaxQueuedOffers = 256;

    /// <summary>Offers refused: from a host other than their sender's, or over <see cref="MaxQueuedOffers"/>.</summary>
    public long RefusedOffers => Interlocked.Read(ref _refused);

    /// <summary>The most fetch threads that ran at once in this process.</summary>
    public int PeakFetchers => Volatile.Read(ref _peakFetchers);

    public DataPlaneSettings Settings { get; }
    public long Offered => Interlocked.Read(ref _offered);
    public long Fetched => Interlocked.Read(ref _fetched);
    public long FetchedBytes => Interlocked.Read(ref _fetchedBytes);
    public long FailedFetches => Interlocked.Read(ref _failed);
    public BlobStore Store => _store;

    public static DataPlane Get(ActorSystem system) => system.WithExtension<DataPlane, DataPlaneProvider>();

    public DataPlane(ExtendedActorSystem system)
    {
        Settings = DataPlaneSettings.From(system.Settings.Config, system.Provider.DefaultAddress.Host);
        _serializer = new MtnnMessageSerializer(system);
        _log = Logging.GetLogger(system, nameof(DataPlane));
        _store = new BlobStore(Settings.MaxBlobBytes, Settings.Expiry);
        _server = new Lazy<BlobServer>(() => new BlobServer(_store, Settings.BindHost, Settings.IoTimeout, m => _log.Warning(m), Settings.Port));
        _fetchSlots = new SemaphoreSlim(Math.Max(1, Settings.MaxConcurrentFetches));
        var sweep = TimeSpan.FromSeconds(Math.Clamp(Settings.Expiry.TotalSeconds / 4, 1, 30));
        _sweeper = new Timer(_ => _store.Expire(), null, sweep, sweep);
        system.RegisterOnTermination(Dispose);
        // a declared port listens from the start (a pod's ports are then what it declares, whatever it has sent yet);
        // any port is taken on first use only (a single-process run never opens one)
        if (Settings.Enabled && Settings.Port != 0) _ = _server.Value;
    }

    /// <summary>
    /// Keeps <paramref name="bytes"/> (ownership passes here) for one fetch; returns the offer to send through
    /// Akka. <paramref name="checksum"/> is the bytes' <see cref="TransferChecksum"/>, computed once by the caller
    /// however many it offers.
    /// </summary>
    public BlobOffer Offer(PooledBytes bytes, byte[] checksum, string manifest, string runId)
    {
        var length = bytes.Length;
        var port = _server.Value.Port;
        var (transferId, token) = _store.Add(bytes);
        Interlocked.Increment(ref _offered);
        return new BlobOffer(runId, transferId, manifest, Settings.PublicHost, port, length, checksum, token);
    }

    /// <summary>
    /// Fetches the offered message in the background and tells it to <paramref name="self"/> as if
    /// <paramref name="sender"/> had sent it. Never blocks the calling actor.
    /// </summary>
    public void Deliver(BlobOffer offer, IActorRef self, IActorRef sender, string? expectedRunId)
    {
        if (expectedRunId is not null && offer.RunId != expectedRunId)
        {
            Interlocked.Increment(ref _failed);
            _log.Warning("data plane: offer {0} for run {1} dropped (expected run {2})", offer.TransferId, offer.RunId, expectedRunId);
            return;
        }
        // only from the node that offers it: an offer naming another host would make this node connect wherever a
        // stranger says (a port scan, a request to an internal service)
        if (sender.Path.Address.Host is { } senderHost && !string.Equals(senderHost, offer.Host, StringComparison.OrdinalIgnoreCase))
        {
            Refuse(offer, $"it names host {offer.Host}, its sender is on {senderHost}");
            return;
        }
        if (Interlocked.Increment(ref _queued) > MaxQueuedOffers)
        {
            Interlocked.Decrement(ref _queued);
            Refuse(offer, $"{MaxQueuedOffers} offers are already waiting");
            return;
        }
        _queue.Enqueue((offer, self, sender));
        StartFetcher();
    }

    private void Refuse(BlobOffer offer, string why)
    {
        Interlocked.Increment(ref _refused);
        MtnnTelemetry.Refused("data-plane", "BlobOffer");
        _log.Warning("data plane: offer {0} ({1}) refused: {2}", offer.TransferId, offer.Manifest, why);
    }

    /// <summary>
    /// One more fetch thread, unless <see cref="DataPlaneSettings.MaxConcurrentFetches"/> run already. A thread of its
    /// own: hashing and deserializing tens of megabytes must not hold the thread pool that Akka's default dispatcher
    /// (and its heartbeats) runs on.
    /// </summary>
    private void StartFetcher()
    {
        var limit = Math.Max(1, Settings.MaxConcurrentFetches);
        while (true)
        {
            var running = Volatile.Read(ref _fetchers);
            if (running >= limit) return; // a running one takes the offer from the queue
            if (Interlocked.CompareExchange(ref _fetchers, running + 1, running) != running) continue;
            var peak = Volatile.Read(ref _peakFetchers);
            while (running + 1 > peak && Interlocked.CompareExchange(ref _peakFetchers, running + 1, peak) != peak) peak = Volatile.Read(ref _peakFetchers);
            Task.Factory.StartNew(Fetcher, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            return;
        }
    }

    private void Fetcher()
    {
        while (_queue.TryDequeue(out var item))
        {
            Interlocked.Decrement(ref _queued);
            DeliverOnThisThread(item.Offer, item.Self, item.Sender);
        }
        Interlocked.Decrement(ref _fetchers);
        if (!_queue.IsEmpty) StartFetcher(); // one queued between the last look and the decrement
    }

    private void DeliverOnThisThread(BlobOffer offer, IActorRef self, IActorRef sender)
    {
        try
        {
            self.Tell(Fetch(offer), sender);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _failed);
            _log.Error("data plane: {0} for {1} lost: {2}", offer.Manifest, self.Path, e.Message);
        }
    }

    /// <summary>Fetches, verifies and deserializes one offered message, on the calling thread.</summary>
    public IMtnnMessage Fetch(BlobOffer offer)
    {
        _fetchSlots.Wait();
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var bytes = BlobClient.Fetch(offer, Settings.MaxBlobBytes, Settings.ConnectTimeout, Settings.IoTimeout);
            var message = _serializer.FromBinary(bytes.Memory, offer.Manifest, TensorArrayPool.Shared); // its consumer returns the tensors
            if (message is not IMtnnMessage mtnn || message is BlobOffer or MessageChunk)
                throw new BlobFetchException($"transfer {offer.TransferId}: {offer.Manifest} cannot travel on the data plane");
            if (mtnn is IRunMessage run && run.RunId != offer.RunId)
                throw new BlobFetchException($"transfer {offer.TransferId}: the message names run {run.RunId}, the offer {offer.RunId}");
            Interlocked.Increment(ref _fetched);
            Interlocked.Add(ref _fetchedBytes, bytes.Length);
            MtnnTelemetry.Exchanged("received", mtnn.GetType().Name, bytes.Length, started);
            return mtnn;
        }
        finally
        {
            _fetchSlots.Release();
        }
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        if (_server.IsValueCreated) _server.Value.Dispose();
        _store.Dispose();
    }
}

public sealed class DataPlaneProvider : ExtensionIdProvider<DataPlane>
{
    public override DataPlane CreateExtension(ExtendedActorSystem system) => new(system);
}
