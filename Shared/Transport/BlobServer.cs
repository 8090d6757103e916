using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace MtnnCluster.Transport;

/// <summary>
/// The data plane's wire format. Request: "MTDP", version, transfer id (int64 LE), token (32 bytes). Response: a
/// <see cref="BlobLookup"/> byte and the length (int64 LE), then, when found, the bytes in one write. The receiver
/// acknowledges with one byte once it has checked length and checksum (<see cref="TransferChecksum"/>).
/// </summary>
public static class BlobProtocol
{
    public const byte Version = 1;
    public static ReadOnlySpan<byte> Magic => "MTDP"u8;
    public const int RequestBytes = 4 + 1 + 8 + BlobStore.TokenBytes;
    public const int ResponseHeaderBytes = 1 + 8;
    public const byte Acknowledged = 1;
}

/// <summary>
/// Serves a <see cref="BlobStore"/> over TCP: one listener per actor system, each connection one fetch. Every read
/// and write runs under <paramref name="ioTimeout"/>, so a silent peer cannot hold a blob or a socket; the request
/// itself must come within <see cref="RequestTimeout"/>, and at most <see cref="MaxConnections"/> connections are
/// served at once (one more is closed as it comes, and counted in <see cref="Refused"/>).
/// </summary>
public sealed class BlobServer : IDisposable
{
    private readonly BlobStore _store;
    private readonly TimeSpan _ioTimeout;
    private readonly Action<string> _warn;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private long _served, _refused, _acknowledged;
    private readonly SemaphoreSlim _connections = new(MaxConnections);

    /// <summary>Connections served at once: a fetch per worker and message in flight is far fewer.</summary>
    public const int MaxConnections = 64;

    /// <summary>The longest a connection may take to send its request (a connection that sends nothing frees its slot by then).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public int Port { get; }
    public long Served => Interlocked.Read(ref _served);
    public long Refused => Interlocked.Read(ref _refused);
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <param name="port">the listener's port: 0 takes any free one; a fixed one is what a network policy can admit</param>
    public BlobServer(BlobStore store, string bindHost, TimeSpan ioTimeout, Action<string> warn, int port = 0)
    {
        _store = store;
        _ioTimeout = ioTimeout;
        _warn = warn;
        _listener = new TcpListener(ResolveBindAddress(bindHost), port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptLoop();
    }

    /// <summary>The address a listener binds for <paramref name="host"/>: empty, 0.0.0.0 or * for every interface, else an IP or a name.</summary>
    internal static IPAddress ResolveBindAddress(string host)
    {
        if (string.IsNullOrEmpty(host) || host is "0.0.0.0" or "*") return IPAddress.Any;
        if (IPAddress.TryParse(host, out var address)) return address;
        var addresses = Dns.GetHostAddresses(host);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new ArgumentException($"cannot resolve bind host '{host}'");
    }

    private async Task AcceptLoop()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _warn($"data plane: accept failed: {e.Message}");
                continue;
            }
            if (!_connections.Wait(0))
            {
                Interlocked.Increment(ref _refused);
                Telemetry.MtnnTelemetry.Refused("data-plane", "connection");
                client.Dispose();
                continue;
            }
            _ = Serve(client);
        }
    }

    private async Task Serve(TcpClient client)
    {
        using var _ = client;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(_ioTimeout < RequestTimeout ? _ioTimeout : RequestTimeout);
        PooledBytes? blob = null;
        try
        {
            client.NoDelay = true;
            var stream = client.GetStream();
            var request = new byte[BlobProtocol.RequestBytes];
            await stream.ReadExactlyAsync(request, timeout.Token);
            timeout.CancelAfter(_ioTimeout);
            if (!request.AsSpan(0, 4).SequenceEqual(BlobProtocol.Magic) || request[4] != BlobProtocol.Version)
            {
                Interlocked.Increment(ref _refused);
                _warn($"data plane: malformed request from {client.Client.RemoteEndPoint}");
                return;
            }
            var transferId = BinaryPrimitives.ReadInt64LittleEndian(request.AsSpan(5));
            var lookup = _store.TryTake(transferId, request.AsSpan(13, BlobStore.TokenBytes), out blob);
            var header = new byte[BlobProtocol.ResponseHeaderBytes];
            header[0] = (byte)lookup;
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(1), blob?.Length ?? 0);
            await stream.WriteAsync(header, timeout.Token);
            if (lookup != BlobLookup.Found)
            {
                Interlocked.Increment(ref _refused);
                _warn($"data plane: transfer {transferId} refused to {client.Client.RemoteEndPoint} ({lookup})");
                return;
            }
            await stream.WriteAsync(blob!.Memory, timeout.Token);
            Interlocked.Increment(ref _served);
            blob.Dispose(); // the receiver has its copy (or will fail and be retried at the round level)
            blob = null;
            var ack = new byte[1];
            await stream.ReadExactlyAsync(ack, timeout.Token);
            if (ack[0] == BlobProtocol.Acknowledged) Interlocked.Increment(ref _acknowledged);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or EndOfStreamException)
        {
            if (!_stopping.IsCancellationRequested) _warn($"data plane: serving {client.Client.RemoteEndPoint} failed: {e.Message}");
        }
        finally
        {
            blob?.Dispose();
            _connections.Release();
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _listener.Stop();
        _stopping.Dispose();
    }
}
