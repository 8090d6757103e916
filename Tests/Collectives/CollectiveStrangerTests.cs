using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MtnnCluster.Collectives;
using Xunit;

namespace MtnnCluster.Tests.Collectives;

/// <summary>
/// Strangers at the collectives' listener, on real sockets (127.0.0.1): a connection without the attempt's token, one
/// that would replace an established rank, and frame headers that name more floats than the peer ever sends.
/// </summary>
public sealed class CollectiveStrangerTests : RankTest
{
    private static readonly byte[] Token = Enumerable.Range(1, TcpProcessGroups.TokenBytes).Select(i => (byte)i).ToArray();

    private TcpProcessGroups Factory(int maxFrameFloats = TcpProcessGroups.DefaultMaxFrameFloats) =>
        Own(new TcpProcessGroups("127.0.0.1", "127.0.0.1", maxFrameFloats: maxFrameFloats));

    /// <summary>A handshake as a dialler writes it: version 2 ends with the attempt's token; version 1 (before tokens) had none.</summary>
    internal static byte[] Handshake(string groupId, int size, int from, int to, byte[]? token, byte version = 2)
    {
        var id = Encoding.UTF8.GetBytes(groupId);
        var bytes = new byte[4 + 1 + 12 + 2 + id.Length + (token?.Length ?? 0)];
        "MTCG"u8.CopyTo(bytes);
        bytes[4] = version;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(5), size);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(9), from);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(13), to);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(17), (ushort)id.Length);
        id.CopyTo(bytes.AsSpan(19));
        token?.CopyTo(bytes.AsSpan(19 + id.Length));
        return bytes;
    }

    /// <summary>Connects, sends <paramref name="opening"/>, and returns the connection and whether the listener acknowledged it (false: closed).</summary>
    private static (TcpClient Client, bool Acknowledged) Dial(int port, byte[] opening)
    {
        var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        client.ReceiveTimeout = 5_000;
        var stream = client.GetStream();
        stream.Write(opening);
        try
        {
            var answer = new byte[1];
            return (client, stream.Read(answer) == 1 && answer[0] == 1);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return (client, false);
        }
    }

    /// <summary>
    /// Ranks 0 and 1 of a group of three join (rank 1's connection to rank 0 is established); <paramref name="meanwhile"/>
    /// runs while rank 0 still waits for rank 2; then rank 2 joins, and every rank's all-to-all shows who it talks to.
    /// </summary>
    private void DuringAJoin(Action<TcpProcessGroups> meanwhile)
    {
        var factories = new[] { Factory(), Factory(), Factory() };
        var endpoints = factories.Select(f => (string?)f.Endpoint).ToArray();
        var early = new[] { 0, 1 }.Select(r => Task.Factory.StartNew(() => Own(factories[r].Join("g", r, endpoints, Bound, Token)), TaskCreationOptions.LongRunning)).ToArray();
        Thread.Sleep(500); // rank 1 has dialled rank 0 and been accepted; rank 0 now waits for rank 2
        meanwhile(factories[0]);
        var last = Own(factories[2].Join("g", 2, endpoints, Bound, Token));
        var group = early.Select(t => t.Result).Append(last).ToArray();
        var received = OnEveryRank(3, r => group[r].AllToAll([[r * 10f], [r * 10f + 1], [r * 10f + 2]]));
        for (var r = 0; r < 3; r++)
            for (var from = 0; from < 3; from++)
                Assert.Equal([from * 10f + r], received[r][from]);
    }

    [Fact]
    public void An_impostor_without_the_attempt_s_token_cannot_take_a_rank()
    {
        DuringAJoin(rank0 =>
        {
            // before tokens, a version-1 handshake naming the group and rank 1 replaced rank 1's connection
            foreach (var opening in new[] { Handshake("g", 3, 1, 0, null, version: 1), Handshake("g", 3, 1, 0, new byte[TcpProcessGroups.TokenBytes]),
                         Handshake("g", 3, 1, 0, Token.Select(b => (byte)(b ^ 0x80)).ToArray()) })
            {
                var (client, acknowledged) = Dial(rank0.Port, opening);
                using (client) Assert.False(acknowledged, "the listener acknowledged an impostor");
            }
            for (var i = 0; i < 50 && rank0.RefusedConnections < 3; i++) Thread.Sleep(20);
            Assert.Equal(3, rank0.RefusedConnections);
        });
    }

    [Fact]
    public void A_connection_cannot_replace_an_established_one()
    {
        DuringAJoin(rank0 =>
        {
            // even with the token (a leaked one, a duplicate): rank 1 is connected, and stays the one rank 0 talks to
            var (client, acknowledged) = Dial(rank0.Port, Handshake("g", 3, 1, 0, Token));
            using (client) Assert.False(acknowledged, "a second connection for rank 1 was acknowledged");
        });
    }

    /// <summary>A group of two whose rank 1 is this test on a raw socket: rank 0 is a real factory's, joined with the token.</summary>
    private (IProcessGroup Rank0, NetworkStream Peer) WithRawPeer(TcpProcessGroups factory)
    {
        var endpoints = new string?[] { factory.Endpoint, "127.0.0.1:9" };
        var join = Task.Factory.StartNew(() => Own(factory.Join("raw", 0, endpoints, Bound, Token)), TaskCreationOptions.LongRunning);
        Thread.Sleep(200);
        var (client, acknowledged) = Dial(factory.Port, Handshake("raw", 2, 1, 0, Token));
        Own(client);
        Assert.True(acknowledged);
        return (join.Result, client.GetStream());
    }

    private static byte[] FrameHeader(long call, long sequence, int kind, int count)
    {
        var header = new byte[24];
        BinaryPrimitives.WriteInt64LittleEndian(header, call);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), sequence);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), kind);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(20), count);
        return header;
    }

    [Fact]
    public void A_header_over_the_frame_cap_is_refused_at_once()
    {
        var (rank0, peer) = WithRawPeer(Factory(maxFrameFloats: 1000));
        peer.Write(FrameHeader(1, 0, 1, 1001)); // an all-to-all frame one float over the cap
        var error = Assert.Throws<CollectiveAbortedException>(() => rank0.AllToAll([[1f], [2f]]));
        Assert.Contains("frame cap", error.Message);
    }

    [Fact]
    public void A_header_naming_a_gigabyte_allocates_only_what_arrives()
    {
        var (rank0, peer) = WithRawPeer(Factory());
        var before = GC.GetTotalAllocatedBytes(precise: true);
        peer.Write(FrameHeader(1, 0, 1, TcpProcessGroups.DefaultMaxFrameFloats)); // 1 GiB of floats announced, 4 KB sent
        peer.Write(new byte[4096]);
        peer.Socket.Shutdown(SocketShutdown.Send);
        var error = Assert.Throws<CollectiveAbortedException>(() => rank0.AllToAll([[1f], [2f]]));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < 256L << 20, $"{allocated >> 20} MiB allocated for 4 KB received (before: the whole 1 GiB at the header)");
        Assert.Contains("rank 1", error.Message);
    }
}
