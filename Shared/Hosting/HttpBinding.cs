using System.Net;

namespace MtnnCluster.Hosting;

/// <summary>
/// Where the HTTP endpoints (health, readiness, status, metrics) listen: on one host, the node's --bind host unless
/// --http-bind names another. Only 0.0.0.0, :: or * mean every interface; a process without --bind (train) listens
/// on 127.0.0.1 unless told otherwise.
/// </summary>
public static class HttpBinding
{
    public const string Loopback = "127.0.0.1";

    /// <summary>True when <paramref name="host"/> means every interface.</summary>
    public static bool Everywhere(string? host) => host is null or "" or "0.0.0.0" or "::" or "*" or "+";

    /// <summary>
    /// The HttpListener prefix for <paramref name="host"/>: '*' (every interface, any Host header) or the host itself,
    /// which the listener binds alone (and then answers requests addressed to that host).
    /// </summary>
    public static string Prefix(string? host, int port, string path)
    {
        var name = Everywhere(host) ? "*"
            : IPAddress.TryParse(host, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]"
            : host!;
        return $"http://{name}:{port}{path}";
    }
}
