using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MtnnCluster.Hosting;

/// <summary>
/// Mutual TLS for the cluster's remoting: this node's certificate and key (PKCS#12, or a PEM certificate with a PEM
/// key in <see cref="KeyPath"/>: the tls.crt and tls.key of a Kubernetes TLS secret such as cert-manager writes) and
/// the cluster's CA (PEM, one or more certificates). A peer is let in only when its certificate chains to that CA and
/// may serve as both ends of a TLS connection (extended key usages serverAuth and clientAuth: every node dials and is
/// dialled); host names are not checked, since nodes are reached by IP or by per-pod DNS names that a per-node
/// certificate need not list.
/// </summary>
public sealed record TlsSettings(string CertificatePath, string? Password, string CaPath, string? KeyPath = null)
{
    public const string CertificateVariable = "MTNN_TLS_CERT";
    public const string PasswordVariable = "MTNN_TLS_PASSWORD";
    public const string CaVariable = "MTNN_TLS_CA";
    public const string KeyVariable = "MTNN_TLS_KEY";

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Settings from the options, else from the environment (<see cref="CertificateVariable"/>, <see cref="PasswordVariable"/>,
    /// <see cref="CaVariable"/>: Kubernetes secrets mounted as files and named by env). Null when neither names a
    /// certificate or a CA: TLS is off. Naming only one of the two is an error, never a silent fallback to plain TCP.
    /// </summary>
    public static TlsSettings? Resolve(string? certificate, string? password, string? ca, Func<string, string?> environment, string? key = null)
    {
        certificate = NonEmpty(certificate) ?? NonEmpty(environment(CertificateVariable));
        ca = NonEmpty(ca) ?? NonEmpty(environment(CaVariable));
        key = NonEmpty(key) ?? NonEmpty(environment(KeyVariable));
        password ??= environment(PasswordVariable);
        if (certificate is null && ca is null) return null;
        if (certificate is null)
            throw new ArgumentException($"--tls-cert: TLS needs this node's certificate (PKCS#12) as well as --tls-ca (or set {CertificateVariable})");
        if (ca is null)
            throw new ArgumentException($"--tls-ca: TLS needs the cluster's CA certificate (PEM) as well as --tls-cert (or set {CaVariable})");
        var settings = new TlsSettings(Path.GetFullPath(certificate), password, Path.GetFullPath(ca), key is null ? null : Path.GetFullPath(key));
        settings.LoadCertificate().Dispose(); // fail now, naming the file, rather than at the first handshake
        settings.LoadAuthorities();
        return settings;
    }

    /// <summary>This node's certificate with its private key.</summary>
    public X509Certificate2 LoadCertificate()
    {
        if (!File.Exists(CertificatePath)) throw new ArgumentException($"--tls-cert: {CertificatePath} does not exist");
        X509Certificate2 certificate;
        if (KeyPath is not null)
        {
            if (!File.Exists(KeyPath)) throw new ArgumentException($"--tls-key: {KeyPath} does not exist");
            try
            {
                // through PKCS#12: a key attached from PEM is not one every TLS stack takes as the certificate's own
                using var pem = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.EphemeralKeySet);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException) // a key of another certificate: ArgumentException
            {
                throw new ArgumentException($"--tls-cert/--tls-key: {CertificatePath} and {KeyPath} are not a PEM certificate and its PEM private key ({e.Message})", e);
            }
        }
        else
            try
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, Password, X509KeyStorageFlags.EphemeralKeySet);
            }
            catch (CryptographicException e)
            {
                throw new ArgumentException($"--tls-cert: {CertificatePath} cannot be read as PKCS#12 with the given password ({e.Message})", e);
            }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new ArgumentException($"--tls-cert: {CertificatePath} holds no private key; mutual TLS needs the node's key");
        }
        if (!HasBothUsages(certificate, out var usages))
        {
            certificate.Dispose();
            throw new ArgumentException($"--tls-cert: {CertificatePath}: {usages}; a node's certificate needs the extended key usages serverAuth and clientAuth");
        }
        return certificate;
    }

    /// <summary>The CA certificates peers must chain to.</summary>
    public X509Certificate2Collection LoadAuthorities()
    {
        if (!File.Exists(CaPath)) throw new ArgumentException($"--tls-ca: {CaPath} does not exist");
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(CaPath);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"--tls-ca: {CaPath} is not a PEM certificate ({e.Message})", e);
        }
        return authorities.Count > 0 ? authorities : throw new ArgumentException($"--tls-ca: {CaPath} holds no PEM certificate");
    }

    /// <summary>True when <paramref name="peer"/> chains to one of <paramref name="authorities"/>; otherwise the reason.</summary>
    public static bool ChainsTo(X509Certificate2? peer, X509Certificate2Collection authorities, out string reason)
    {
        if (peer is null)
        {
            reason = "the peer presented no certificate";
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // a private CA publishes no revocation list
        if (chain.Build(peer))
        {
            // a certificate the CA issued for something else (a web server's, a client's) is not a node's
            return HasBothUsages(peer, out reason);
        }
        reason = $"certificate '{peer.Subject}' (issuer '{peer.Issuer}') does not chain to the cluster CA: "
                 + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return false;
    }

    /// <summary>
    /// The validation every mutual-TLS endpoint of the cluster does (Akka remoting, the collectives): the TLS layer
    /// found nothing wrong beyond the chain and host name, and <paramref name="peer"/> chains to <paramref name="authorities"/>.
    /// </summary>
    public static bool AcceptsPeer(X509Certificate? peer, SslPolicyErrors errors, X509Certificate2Collection authorities, out string reason)
    {
        reason = errors.ToString();
        return OnlyChainErrors(errors) && ChainsTo(peer as X509Certificate2, authorities, out reason);
    }

    /// <summary>Why the TLS layer itself objected, beyond the chain (which <see cref="ChainsTo"/> decides).</summary>
    public static bool OnlyChainErrors(SslPolicyErrors errors) =>
        (errors & ~(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch)) == SslPolicyErrors.None;

    /// <summary>True when <paramref name="certificate"/> lists both serverAuth and clientAuth; otherwise the reason.</summary>
    public static bool HasBothUsages(X509Certificate2 certificate, out string reason)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToHashSet();
        var missing = new[] { (ServerAuth, "serverAuth"), (ClientAuth, "clientAuth") }.Where(u => !usages.Contains(u.Item1)).Select(u => u.Item2).ToArray();
        reason = missing.Length == 0 ? "" : $"certificate '{certificate.Subject}' lacks the extended key usage {string.Join(" and ", missing)}";
        return missing.Length == 0;
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
