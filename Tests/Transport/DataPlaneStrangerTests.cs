using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Transport;
using Xunit;

namespace MtnnCluster.Tests.Transport;

/// <summary>
/// The data plane against strangers, on real sockets (127.0.0.1): a flood of offers, offers naming a host other than
/// their sender's, and a flood of idle connections at the server.
/// </summary>
public sealed class DataPlaneStrangerTests
{
    /// <summary>A listener that accepts and never answers: a fetch from it hangs until its socket closes.</summary>
    private sealed class BlackHole : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly List<Socket> _accepted = [];
        private readonly CancellationTokenSource _stop = new();

        public BlackHole(IPAddress address)
        {
            _listener = new TcpListener(address, 0);
            _listener.Start(1024);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        var socket = await _listener.AcceptSocketAsync(_stop.Token);
                        lock (_accepted) _accepted.Add(socket);
                    }
                    catch (Exception)
                    {
                        return;
                    }
                }
            });
        }

        public int Port { get; }

        public int Accepted
        {
            get { lock (_accepted) return _accepted.Count; }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
                foreach (var socket in _accepted) socket.Dispose();
        }
    }

    /// <summary>An actor of <paramref name="sending"/> as <paramref name="receiving"/> sees it: a remote sender on 127.0.0.1.</summary>
    private static async Task<IActorRef> RemoteSender(ActorSystem sending, ActorSystem receiving)
    {
        sending.ActorOf(Props.Empty, "sender");
        return await receiving.ActorSelection($"{((ExtendedActorSystem)sending).Provider.DefaultAddress}/user/sender").ResolveOne(TimeSpan.FromSeconds(10));
    }

    private static BlobOffer Offer(string host, int port, long id) =>
        new("run-1", id, "heads.7", host, port, 1000, new byte[TransferChecksum.Bytes], new byte[BlobStore.TokenBytes]);

    [Fact]
    public async Task A_flood_of_offers_costs_a_bounded_number_of_threads()
    {
        using var sending = LoopbackSystem.Create("a", dataPlane: true);
        using var receiving = LoopbackSystem.Create("b", dataPlane: true);
        var sender = await RemoteSender(sending, receiving);
        var self = receiving.ActorOf(Props.Empty, "self");
        var plane = DataPlane.Get(receiving);
        using var hole = new BlackHole(IPAddress.Loopback);
        var threads = Process.GetCurrentProcess().Threads.Count;

        const int Offers = 1000;
        for (var i = 0; i < Offers; i++) plane.Deliver(Offer("127.0.0.1", hole.Port, i), self, sender, null);
        for (var i = 0; i < 100 && hole.Accepted < plane.Settings.MaxConcurrentFetches; i++) await Task.Delay(20);

        // before: a thread per offer, each waiting for one of 8 slots
        Assert.InRange(plane.PeakFetchers, 1, plane.Settings.MaxConcurrentFetches);
        Assert.InRange(Process.GetCurrentProcess().Threads.Count - threads, -100, 2 * plane.Settings.MaxConcurrentFetches);
        Assert.Equal(Offers - DataPlane.MaxQueuedOffers - plane.Settings.MaxConcurrentFetches, plane.RefusedOffers, 2.0);
        Assert.Equal(plane.Settings.MaxConcurrentFetches, hole.Accepted);
    }

    [Fact]
    public async Task An_offer_naming_a_host_other_than_its_sender_s_is_not_fetched()
    {
        using var sending = LoopbackSystem.Create("a", dataPlane: true);
        using var receiving = LoopbackSystem.Create("b", dataPlane: true);
        var sender = await RemoteSender(sending, receiving); // on 127.0.0.1
        var self = receiving.ActorOf(Props.Empty, "self");
        var plane = DataPlane.Get(receiving);
        using var elsewhere = new BlackHole(IPAddress.Parse("127.0.0.2")); // before: connected to, wherever the offer said

        plane.Deliver(Offer("127.0.0.2", elsewhere.Port, 1), self, sender, null);
        await Task.Delay(500);
        Assert.Equal(0, elsewhere.Accepted);
        Assert.Equal(1, plane.RefusedOffers);
    }

    [Fact]
    public async Task The_server_holds_a_bounded_number_of_connections_and_frees_idle_ones()
    {
        using var store = new BlobStore(1 << 20, TimeSpan.FromMinutes(1));
        using var server = new BlobServer(store, "127.0.0.1", TimeSpan.FromSeconds(60), _ => { });
        var idle = new List<TcpClient>();
        try
        {
            for (var i = 0; i < BlobServer.MaxConnections + 40; i++)
            {
                var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, server.Port);
                idle.Add(client); // sends nothing
            }
            for (var i = 0; i < 100 && server.Refused < 40; i++) await Task.Delay(20);
            Assert.Equal(40, server.Refused); // before: every one held, for the whole IO timeout
        }
        finally
        {
            foreach (var client in idle) client.Dispose();
        }
        // the slots come back: a real fetch goes through
        var bytes = PooledBytes.Rent(5000);
        new Random(1).NextBytes(bytes.Span);
        var copy = bytes.Span.ToArray();
        var (id, token) = store.Add(bytes);
        var offer = new BlobOffer("run-1", id, "heads.7", "127.0.0.1", server.Port, copy.Length, TransferChecksum.Of(copy), token);
        PooledBytes? fetched = null;
        for (var attempt = 0; attempt < 50 && fetched is null; attempt++)
        {
            try
            {
                fetched = await BlobClient.FetchAsync(offer, 1 << 20, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
            }
            catch (BlobFetchException)
            {
                await Task.Delay(100); // a slot not yet released by a closed idle connection
            }
        }
        using (fetched) Assert.Equal(copy, fetched!.Span.ToArray());
    }
}
