using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MtnnCluster.Hosting;
using MtnnCluster.Transport;

namespace MtnnCluster.Collectives;

/// <summary>
/// Process groups over TCP between processes: one listener per process, started here, and a full mesh of
/// connections per group. Rank r dials every lower rank and accepts every higher one. A dialled connection opens
/// with a handshake (magic, version, group id, size, the dialler's rank and the rank it wants, the attempt's token);
/// the listener hands it to that rank's pending <see cref="Join"/> and acknowledges with one byte, or closes it when
/// no such Join comes within <see cref="UnknownGroupWait"/> (a group that is unknown, finished, or not joined yet:
/// the dialler retries until its own timeout). With <see cref="TlsSettings"/>, every connection is mutual TLS against
/// the cluster CA, checked as Akka remoting checks it.
/// <para>
/// Strangers: a connection whose token differs from the Join's (compared in constant time) is closed, and so is one
/// for a rank already connected: an established connection is never replaced. At most <see cref="MaxHandshakes"/>
/// handshakes are read at once, each within <see cref="HandshakeTimeout"/>; a connection over that is closed at
/// once. A frame's length is checked against <see cref="MaxFrameFloats"/> and its floats are allocated as they arrive.
/// Each refusal is counted (<see cref="RefusedConnections"/>, the <c>mtnn.messages.refused</c> metric).
/// </para>
/// </summary>
public sealed class TcpProcessGroups : IProcessGroupFactory, IDisposable
{
    public static readonly TimeSpan DefaultIoTimeout = TimeSpan.FromSeconds(120);
    public static readonly TimeSpan UnknownGroupWait = TimeSpan.FromSeconds(1);

    /// <summary>The attempt's token: random bytes from the coordinator, one per attempt.</summary>
    public const int TokenBytes = 32;

    /// <summary>Connections whose handshake is being read at once; more are closed as they come (a flood costs no memory).</summary>
    public const int MaxHandshakes = 64;

    /// <summary>The longest a handshake (TLS included) may take: a connection that sends nothing frees its slot by then.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Default cap on one frame: 2^28 floats (1 GiB), above any exchange of the model sizes <c>RunSpec.Validate</c>
    /// admits (a trunk's gradient chunk, a batch's embeddings); a header naming more is refused before anything is allocated.
    /// </summary>
    public const int DefaultMaxFrameFloats = 1 << 28;

    /// <summary>Reductions of fewer floats stay on TCP: they are latency, not bandwidth, and need no shared segments.</summary>
    public const int SameHostMinimumFloats = 1 << 16;

    // Big enough that a ring step of a 2.3 M-float trunk moves in few round trips of the TCP window.
    private const int SocketBufferBytes = 4 << 20;
    private const byte Version = 2; // 2: the handshake ends with the attempt's token
    private const byte Accepted = 1;
    private const int MaxGroupIdBytes = 1024;
    private static ReadOnlySpan<byte> Magic => "MTCG"u8;

    private readonly Socket _listener;
    private readonly TimeSpan _ioTimeout;
    private readonly bool _sameHostMemory;
    private readonly X509Certificate2? _certificate;
    private readonly X509Certificate2Collection? _authorities;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<(string GroupId, int Rank), PendingJoin> _pending = new();
    private TaskCompletionSource _pendingChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _handshakes = new(MaxHandshakes);
    private long _refused;

    /// <param name="bindHost">the interface the listener binds (an IP, a name, or 0.0.0.0 for all)</param>
    /// <param name="publicHost">the name or IP peers reach this process by; <see cref="Endpoint"/> is publicHost:port</param>
    /// <param name="port">the listener's port; 0 takes any free one</param>
    /// <param name="tls">mutual TLS against the cluster CA on every connection; null for plain TCP</param>
    /// <param name="ioTimeout">the longest any one read, write or handshake may take (default <see cref="DefaultIoTimeout"/>)</param>
    /// <param name="sameHostMemory">let a group whose ranks all run on this host reduce through shared memory (<see cref="SameHostMemory"/>)</param>
    /// <param name="maxFrameFloats">the most floats one frame may carry (<see cref="DefaultMaxFrameFloats"/>)</param>
    public TcpProcessGroups(string bindHost, string publicHost, int port = 0, TlsSettings? tls = null, TimeSpan? ioTimeout = null, bool sameHostMemory = true,
        int maxFrameFloats = DefaultMaxFrameFloats)
    {
        if (maxFrameFloats < 1) throw new ArgumentOutOfRangeException(nameof(maxFrameFloats), "a frame cap is at least one float");
        MaxFrameFloats = maxFrameFloats;
        _sameHostMemory = sameHostMemory;
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the collectives' wire format is the floats' little-endian bytes");
        _ioTimeout = ioTimeout ?? DefaultIoTimeout;
        if (tls is not null)
        {
            _certificate = tls.LoadCertificate();
            _authorities = tls.LoadAuthorities();
        }
        var address = BlobServer.ResolveBindAddress(bindHost);
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.ReceiveBufferSize = SocketBufferBytes; // before listen: the window scale is agreed in the handshake
        _listener.Bind(new IPEndPoint(address, port));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        Endpoint = $"{publicHost}:{Port}";
        _ = AcceptLoop();
    }

    public string Endpoint { get; }
    public int Port { get; }
    public int MaxFrameFloats { get; }

    /// <summary>Connections closed as a stranger's: wrong token, a rank already connected, malformed, or over <see cref="MaxHandshakes"/>.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);

    /// <summary>
    /// Connects to every other rank of <paramref name="groupId"/> at <paramref name="endpoints"/>; returns when all
    /// are connected, or throws <see cref="CollectiveAbortedException"/> naming the ranks still missing after
    /// <paramref name="timeout"/>.
    /// </summary>
    public IProcessGroup Join(string groupId, int rank, IReadOnlyList<string?> endpoints, TimeSpan timeout, byte[]? token = null)
    {
        // no token: all zeros, which only tests and benchmarks use (the coordinator always sends one)
        token ??= new byte[TokenBytes];
        if (token.Length != TokenBytes) throw new ArgumentException($"a group token has {TokenBytes} bytes (got {token.Length})", nameof(token));
        var size = endpoints.Count;
        if (size < 1) throw new ArgumentException("a group needs at least one rank", nameof(endpoints));
        if (rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is not in a group of {size}");
        if (Encoding.UTF8.GetByteCount(groupId) is 0 or > MaxGroupIdBytes) throw new ArgumentException($"a group id has 1 to {MaxGroupIdBytes} bytes", nameof(groupId));
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        if (size == 1) return new TcpProcessGroup(groupId, 0, [null], _ioTimeout);
        token = token.ToArray(); // ours: the caller's array may change
        var peerEndpoints = endpoints.Select((e, r) => r == rank ? "" : e ?? throw new ArgumentException($"rank {r} has no endpoint", nameof(endpoints))).ToArray();
        var pending = new PendingJoin(rank, size, peerEndpoints, _ioTimeout, token, MaxFrameFloats);
        lock (_pending)
        {
            if (!_pending.TryAdd((groupId, rank), pending)) throw new ArgumentException($"rank {rank} of group '{groupId}' is already joining here", nameof(rank));
            _pendingChanged.TrySetResult();
            _pendingChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        giveUp.CancelAfter(timeout);
        var dials = Enumerable.Range(0, rank).Select(p => Dial(groupId, rank, size, p, peerEndpoints[p], pending, token, giveUp.Token)).ToArray();
        try
        {
            Task.WhenAll(dials).Wait(giveUp.Token);
            pending.AllAccepted.Wait(giveUp.Token);
            return new TcpProcessGroup(groupId, rank, pending.Take(), _ioTimeout, _sameHostMemory);
        }
        catch (Exception e) when (e is OperationCanceledException or AggregateException)
        {
            giveUp.Cancel();
            var failure = e is AggregateException { InnerException: { } inner } ? inner.Message : $"after {timeout.TotalSeconds:0.#} s {pending.Missing()}";
            pending.Close();
            throw new CollectiveAbortedException($"process group '{groupId}': rank {rank} could not join: {failure}", e);
        }
        finally
        {
            lock (_pending) _pending.Remove((groupId, rank));
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _listener.Dispose();
        lock (_pending)
            foreach (var pending in _pending.Values) pending.Close();
        _certificate?.Dispose();
    }

    /// <summary>Dials rank <paramref name="peer"/> until it accepts, the join gives up, or TLS refuses (a certificate does not improve with retries).</summary>
    private async Task Dial(string groupId, int rank, int size, int peer, string endpoint, PendingJoin pending, byte[] token, CancellationToken giveUp)
    {
        var (host, port) = ParseEndpoint(endpoint, peer);
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var socket = NewSocket(new Socket(SocketType.Stream, ProtocolType.Tcp));
            Stream? stream = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(giveUp);
                timeout.CancelAfter(_ioTimeout + UnknownGroupWait);
                await socket.ConnectAsync(host, port, timeout.Token);
                stream = await Secure(new NetworkStream(socket, ownsSocket: true), host, timeout.Token);
                await stream.WriteAsync(Handshake(groupId, size, rank, peer, token), timeout.Token);
                var answer = new byte[1];
                if (await stream.ReadAsync(answer, timeout.Token) == 1 && answer[0] == Accepted)
                {
                    pending.Dialled(new PeerConnection(peer, endpoint, socket, stream, _ioTimeout, MaxFrameFloats));
                    return;
                }
                pending.Note(peer, "the listener closed the connection (that rank has not joined yet?)");
            }
            catch (AuthenticationException e)
            {
                Close(socket, stream);
                throw new CollectiveAbortedException($"TLS with rank {peer} at {endpoint}: {e.Message}", e);
            }
            catch (Exception e) when (!giveUp.IsCancellationRequested && e is SocketException or IOException or OperationCanceledException)
            {
                pending.Note(peer, e.Message);
            }
            catch
            {
                Close(socket, stream);
                throw;
            }
            Close(socket, stream);
            await Task.Delay(pause, giveUp);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    private async Task AcceptLoop()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // a peer that reset at once, or no file descriptors left: pause rather than spin, then go on
                try
                {
                    await Task.Delay(100, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            if (!_handshakes.Wait(0))
            {
                Refuse("handshake slots full");
                socket.Dispose();
                continue;
            }
            _ = Admit(NewSocket(socket));
        }
    }

    private void Refuse(string why)
    {
        Interlocked.Increment(ref _refused);
        Telemetry.MtnnTelemetry.Refused("collectives", why);
    }

    /// <summary>Reads an accepted connection's handshake and hands it to its pending Join, or closes it.</summary>
    private async Task Admit(Socket socket)
    {
        Stream? stream = null;
        var refusal = "malformed handshake";
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_ioTimeout < HandshakeTimeout ? _ioTimeout : HandshakeTimeout);
            stream = await Secure(new NetworkStream(socket, ownsSocket: true), null, timeout.Token);
            var fixedPart = new byte[Magic.Length + 1 + 4 * 3 + 2];
            await stream.ReadExactlyAsync(fixedPart.AsMemory(0, Magic.Length + 1), timeout.Token); // a stranger is closed before it must send more
            if (!fixedPart.AsSpan(0, Magic.Length).SequenceEqual(Magic) || fixedPart[Magic.Length] != Version) throw new InvalidDataException("not a collectives handshake");
            await stream.ReadExactlyAsync(fixedPart.AsMemory(Magic.Length + 1), timeout.Token);
            var fields = fixedPart.AsMemory(Magic.Length + 1);
            var size = BinaryPrimitives.ReadInt32LittleEndian(fields.Span);
            var from = BinaryPrimitives.ReadInt32LittleEndian(fields.Span[4..]);
            var to = BinaryPrimitives.ReadInt32LittleEndian(fields.Span[8..]);
            var idBytes = BinaryPrimitives.ReadUInt16LittleEndian(fields.Span[12..]);
            if (idBytes is 0 or > MaxGroupIdBytes) throw new InvalidDataException("bad group id length");
            var id = new byte[idBytes];
            await stream.ReadExactlyAsync(id, timeout.Token);
            var token = new byte[TokenBytes];
            await stream.ReadExactlyAsync(token, timeout.Token);
            refusal = "unknown group";
            var pending = await AwaitPending(Encoding.UTF8.GetString(id), to, timeout.Token);
            if (pending is null || !pending.Admits(size, from)) throw new InvalidDataException("no such pending join");
            refusal = "wrong token";
            if (!pending.TokenMatches(token)) throw new InvalidDataException("wrong token");
            refusal = "rank already connected";
            if (pending.Connected(from)) throw new InvalidDataException("rank already connected");
            await stream.WriteAsync(new[] { Accepted }, timeout.Token);
            if (!pending.Accepted(from, socket, stream)) throw new InvalidDataException("rank already connected");
            refusal = "";
        }
        catch (Exception)
        {
            // Refused, malformed, or failed TLS: the dialler sees the connection close and retries or gives up.
            if (refusal != "unknown group") Refuse(refusal); // an unknown group is also a rank that has not joined yet: no stranger's
            Close(socket, stream);
        }
        finally
        {
            _handshakes.Release();
        }
    }

    /// <summary>The pending Join of (<paramref name="groupId"/>, <paramref name="rank"/>), waiting up to <see cref="UnknownGroupWait"/> for it to start.</summary>
    private async Task<PendingJoin?> AwaitPending(string groupId, int rank, CancellationToken cancel)
    {
        var deadline = Environment.TickCount64 + (long)UnknownGroupWait.TotalMilliseconds;
        while (true)
        {
            Task changed;
            lock (_pending)
            {
                if (_pending.TryGetValue((groupId, rank), out var pending)) return pending;
                changed = _pendingChanged.Task;
            }
            var left = deadline - Environment.TickCount64;
            if (left <= 0) return null;
            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(left), cancel));
            cancel.ThrowIfCancellationRequested();
        }
    }

    private async Task<Stream> Secure(NetworkStream stream, string? dialledHost, CancellationToken cancel)
    {
        if (_certificate is null) return stream;
        var authorities = _authorities!;
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        RemoteCertificateValidationCallback validate = (_, certificate, _, errors) => TlsSettings.AcceptsPeer(certificate, errors, authorities, out _);
        if (dialledHost is null)
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _certificate,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = validate,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, cancel);
        else
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = dialledHost,
                ClientCertificates = [_certificate],
                RemoteCertificateValidationCallback = validate,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, cancel);
        return ssl;
    }

    private static byte[] Handshake(string groupId, int size, int from, int to, byte[] token)
    {
        var id = Encoding.UTF8.GetBytes(groupId);
        var handshake = new byte[Magic.Length + 1 + 4 * 3 + 2 + id.Length + TokenBytes];
        Magic.CopyTo(handshake);
        handshake[Magic.Length] = Version;
        var fields = handshake.AsSpan(Magic.Length + 1);
        BinaryPrimitives.WriteInt32LittleEndian(fields, size);
        BinaryPrimitives.WriteInt32LittleEndian(fields[4..], from);
        BinaryPrimitives.WriteInt32LittleEndian(fields[8..], to);
        BinaryPrimitives.WriteUInt16LittleEndian(fields[12..], (ushort)id.Length);
        id.CopyTo(fields[14..]);
        token.CopyTo(fields[(14 + id.Length)..]);
        return handshake;
    }

    private static Socket NewSocket(Socket socket)
    {
        socket.NoDelay = true;
        socket.SendBufferSize = SocketBufferBytes;
        socket.ReceiveBufferSize = SocketBufferBytes;
        return socket;
    }

    private static (string Host, int Port) ParseEndpoint(string endpoint, int rank)
    {
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out var port) || port is <= 0 or > 65535)
            throw new ArgumentException($"rank {rank}'s endpoint '{endpoint}' is not host:port");
        return (endpoint[..colon].Trim('[', ']'), port);
    }

    private static void Close(Socket socket, Stream? stream)
    {
        stream?.Dispose();
        socket.Dispose();
    }

    /// <summary>One rank's Join in progress: the connections dialled and accepted so far.</summary>
    private sealed class PendingJoin(int rank, int size, string[] endpoints, TimeSpan ioTimeout, byte[] token, int maxFrameFloats)
    {
        private readonly PeerConnection?[] _peers = new PeerConnection?[size];
        private readonly string?[] _lastError = new string?[size];
        private readonly TaskCompletionSource _allAccepted = NewAccepted(rank, size);
        private int _accepted;
        private bool _closed;

        public Task AllAccepted => _allAccepted.Task;

        public bool Admits(int peerSize, int from) => peerSize == size && from > rank && from < size;

        public bool TokenMatches(byte[] presented) => System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(presented, token);

        public bool Connected(int from)
        {
            lock (_peers) return _peers[from] is not null;
        }

        public void Dialled(PeerConnection peer) => Add(peer);

        /// <summary>A higher rank's connection; false (and nothing kept) when that rank is already connected: the first one stays.</summary>
        public bool Accepted(int from, Socket socket, Stream stream) => Add(new PeerConnection(from, endpoints[from], socket, stream, ioTimeout, maxFrameFloats));

        public void Note(int peer, string error)
        {
            lock (_peers) _lastError[peer] = error;
        }

        /// <summary>The ranks not connected yet, with the last error dialling each.</summary>
        public string Missing()
        {
            lock (_peers)
            {
                var missing = Enumerable.Range(0, size).Where(p => p != rank && _peers[p] is null)
                    .Select(p => $"rank {p} at {endpoints[p]}{(_lastError[p] is { } e ? $" ({e})" : "")}");
                return "no connection with " + string.Join(", ", missing);
            }
        }

        public PeerConnection?[] Take()
        {
            lock (_peers)
            {
                _closed = true;
                return _peers.ToArray();
            }
        }

        public void Close()
        {
            lock (_peers)
            {
                _closed = true;
                foreach (var peer in _peers) peer?.Dispose();
                _allAccepted.TrySetCanceled();
            }
        }

        /// <summary>Keeps <paramref name="peer"/> unless the join is over or its rank is connected already (never replaced: the first one may be carrying data).</summary>
        private bool Add(PeerConnection peer)
        {
            lock (_peers)
            {
                if (_closed || _peers[peer.Rank] is not null)
                {
                    peer.Dispose();
                    return false;
                }
                if (peer.Rank > rank && ++_accepted == size - 1 - rank) _allAccepted.TrySetResult();
                _peers[peer.Rank] = peer;
                return true;
            }
        }

        private static TaskCompletionSource NewAccepted(int rank, int size)
        {
            var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (rank == size - 1) accepted.SetResult(); // the highest rank only dials
            return accepted;
        }
    }
}
