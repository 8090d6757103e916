using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MtnnCluster.Collectives;
using MtnnCluster.Hosting;
using MtnnCluster.Tests.Cluster;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

/// <summary>Groups over real sockets on 127.0.0.1, one <see cref="TcpProcessGroups"/> (one listener) per rank as one per process.</summary>
public sealed class TcpProcessGroupsTests : ProcessGroupContract
{
    protected override IProcessGroup[] Open(int size) => Open(size, ioTimeout: null);

    private IProcessGroup[] Open(int size, TimeSpan? ioTimeout) =>
        JoinAll(Enumerable.Range(0, size).Select(_ => Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", ioTimeout: ioTimeout))).ToArray());

    [Fact]
    public void Ranks_on_one_host_reduce_through_shared_memory_and_leave_no_files_behind()
    {
        var before = SharedMemoryFiles();
        var group = Open(3);
        var length = 3 * TcpProcessGroups.SameHostMinimumFloats + 7;
        var results = OnEveryRank(3, r =>
        {
            var small = new[] { 1f + r };
            group[r].AllReduceSum(small); // too small to set up segments for: TCP
            var transportAfterSmall = group[r].Transport;
            var buffer = Enumerable.Range(0, length).Select(i => (float)(i % 977 + r)).ToArray();
            group[r].AllReduceSum(buffer);
            return (Small: small[0], transportAfterSmall, Buffer: buffer, group[r].Transport, group[r].BytesSent);
        });
        foreach (var result in results)
        {
            Assert.Equal(6f, result.Small);
            Assert.Equal("tcp", result.transportAfterSmall);
            Assert.Equal("tcp, shared memory", result.Transport);
            for (var i = 0; i < length; i += 101) Assert.Equal(3f * (i % 977) + 3, result.Buffer[i]);
        }
        Assert.Equal(Bits(results[0].Buffer), Bits(results[2].Buffer));
        // counted as the ring counts: what the others take of this rank's data, 2(N−1)/N of the buffer
        Assert.InRange(results[1].BytesSent, 4L * length * 2 * 2 / 3 - 64, 4L * length * 2 * 2 / 3 + 64);
        Assert.Equal(before, SharedMemoryFiles());
    }

    [Fact]
    public void A_rank_that_declines_shared_memory_keeps_the_whole_group_on_tcp()
    {
        var factories = new[]
        {
            Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", sameHostMemory: false)),
            Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1")),
        };
        var group = JoinAll(factories);
        var length = TcpProcessGroups.SameHostMinimumFloats * 2;
        var results = OnEveryRank(2, r =>
        {
            var buffer = Enumerable.Range(0, length).Select(i => (float)(i % 13) * (r + 1)).ToArray();
            group[r].AllReduceSum(buffer);
            group[r].AllReduceSum(buffer); // asked once: the second call does not set up again
            return (Buffer: buffer, group[r].Transport);
        });
        foreach (var (buffer, transport) in results)
        {
            Assert.Equal("tcp", transport);
            for (var i = 0; i < length; i += 97) Assert.Equal(6f * (i % 13), buffer[i]);
        }
    }

    private static string[] SharedMemoryFiles() =>
        Directory.Exists("/dev/shm") ? Directory.GetFiles("/dev/shm", "mtnn-collectives-*").Order().ToArray() : [];

    [Fact]
    public void Disposing_one_rank_fails_its_peers_at_once_naming_it()
    {
        var group = Open(3);
        var failures = OnEveryRank(3, r =>
        {
            if (r == 0)
            {
                Thread.Sleep(200);
                group[0].Dispose();
                return (Elapsed: TimeSpan.Zero, Message: "");
            }
            var clock = Stopwatch.StartNew();
            var error = Assert.Throws<CollectiveAbortedException>(() => group[r].AllToAll([[], [1f], [2f]]));
            return (clock.Elapsed, error.Message);
        });
        foreach (var (elapsed, message) in failures.Skip(1))
        {
            Assert.True(elapsed < TimeSpan.FromSeconds(2), $"a peer took {elapsed} to fail");
            Assert.Contains("rank 0 at 127.0.0.1:", message);
        }
    }

    [Fact]
    public void A_silent_peer_fails_the_call_at_the_io_timeout()
    {
        var group = Open(2, ioTimeout: TimeSpan.FromMilliseconds(500));
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CollectiveAbortedException>(() => group[1].AllReduceSum(new float[100]));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(3));
        Assert.Contains("IO timeout", error.Message);
        Assert.Contains("rank 0", error.Message);
    }

    [Fact]
    public async Task Connections_for_another_group_or_garbage_are_closed_and_the_join_goes_on()
    {
        var factories = new[] { Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1")), Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1")) };
        var endpoints = factories.Select(f => (string?)f.Endpoint).ToArray();
        var rank0 = Task.Factory.StartNew(() => factories[0].Join("real", 0, endpoints, Bound), TaskCreationOptions.LongRunning);
        Assert.True(Closed(factories[0].Port, Handshake("other", size: 2, from: 1, to: 0)), "a connection for an unknown group stayed open");
        Assert.True(Closed(factories[0].Port, Handshake("real", size: 3, from: 1, to: 0)), "a connection with the wrong size stayed open");
        Assert.True(Closed(factories[0].Port, "GET / HTTP/1.1\r\n\r\n"u8.ToArray()), "garbage stayed open");
        var rank1 = Own(factories[1].Join("real", 1, endpoints, Bound));
        var group = new[] { Own(await rank0.WaitAsync(Bound)), rank1 };
        OnEveryRank(group, g =>
        {
            var buffer = new[] { 1f + g.Rank };
            g.AllReduceSum(buffer);
            Assert.Equal(3f, buffer[0]);
        });
    }

    [Fact]
    public void A_join_names_the_ranks_it_could_not_reach()
    {
        var nobody = new TcpListener(IPAddress.Loopback, 0);
        nobody.Start();
        var port = ((IPEndPoint)nobody.LocalEndpoint).Port;
        nobody.Stop();
        var factory = Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1"));
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CollectiveAbortedException>(() => factory.Join("alone", 1, [$"127.0.0.1:{port}", factory.Endpoint], TimeSpan.FromMilliseconds(500)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the join took {clock.Elapsed} to give up");
        Assert.Contains($"rank 0 at 127.0.0.1:{port}", error.Message);
    }

    private static byte[] Handshake(string groupId, int size, int from, int to)
    {
        var id = Encoding.UTF8.GetBytes(groupId);
        var bytes = new byte[4 + 1 + 12 + 2 + id.Length];
        "MTCG"u8.CopyTo(bytes);
        bytes[4] = 1;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(5), size);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(9), from);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(13), to);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(17), (ushort)id.Length);
        id.CopyTo(bytes.AsSpan(19));
        return bytes;
    }

    /// <summary>Whether the listener closes a connection that opens with <paramref name="opening"/> without acknowledging it.</summary>
    private static bool Closed(int port, byte[] opening)
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        client.ReceiveTimeout = 5_000;
        var stream = client.GetStream();
        stream.Write(opening);
        try
        {
            return stream.Read(new byte[1]) == 0;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
    }
}

/// <summary>Groups over mutual TLS: ranks with certificates of the cluster CA work together; another CA's is kept out.</summary>
public sealed class TcpTlsGroupsTests(TestPki pki) : RankTest, IClassFixture<TestPki>
{
    private TlsSettings Tls(string node) => new(pki.Pfx(node), TestPki.Password, pki.Ca);

    [Fact]
    public void Ranks_with_cluster_certificates_exchange_over_mutual_tls()
    {
        var group = JoinAll([Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", tls: Tls("coordinator"))), Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", tls: Tls("worker-a")))]);
        var results = OnEveryRank(2, r =>
        {
            var received = group[r].AllToAll([[r], [r, 10f]]);
            var buffer = Enumerable.Range(0, 100_000).Select(i => (float)(i + r)).ToArray();
            group[r].AllReduceSum(buffer);
            return (Received: received, Sum: buffer);
        });
        Assert.Equal([0f, 10f], results[1].Received[0]);
        Assert.Equal([1f], results[0].Received[1]);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(i => 2f * i + 1), results[0].Sum);
        Assert.Equal(results[0].Sum, results[1].Sum);
    }

    [Fact]
    public void A_rank_with_another_cas_certificate_cannot_join()
    {
        // The intruder even trusts the cluster CA; the member's check of the intruder is what keeps it out.
        var factories = new[] { Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", tls: Tls("worker-a"))), Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", tls: Tls("intruder"))) };
        var endpoints = factories.Select(f => (string?)f.Endpoint).ToArray();
        var outcomes = OnEveryRank(2, r => Record.Exception(() => factories[r].Join("closed", r, endpoints, TimeSpan.FromSeconds(2))));
        Assert.All(outcomes, e => Assert.IsType<CollectiveAbortedException>(e));
    }
}
