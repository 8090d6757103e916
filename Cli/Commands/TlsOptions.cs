using System.CommandLine;
using MtnnCluster.Hosting;

namespace MtnnCluster.Cli.Commands;

/// <summary>Mutual TLS options shared by <c>coordinator</c> and <c>worker</c>; the environment fills in what is not given.</summary>
public sealed class TlsOptions
{
    public Option<string?> Certificate { get; } = new("--tls-cert")
    {
        Description = $"this node's certificate and private key, PKCS#12 (.pfx), or a PEM certificate with --tls-key; turns mutual TLS on; "
                      + $"it must carry the extended key usages serverAuth and clientAuth (default: ${TlsSettings.CertificateVariable})",
    };
    public Option<string?> Key { get; } = new("--tls-key")
        { Description = $"the PEM private key of a PEM --tls-cert (tls.key of a Kubernetes TLS secret) (default: ${TlsSettings.KeyVariable})" };
    public Option<string?> Password { get; } = new("--tls-password")
        { Description = $"password of the --tls-cert file (default: ${TlsSettings.PasswordVariable}; prefer the variable: arguments are visible to other users)" };
    public Option<string?> Ca { get; } = new("--tls-ca")
        { Description = $"the cluster's CA certificate(s), PEM: peers must chain to it (default: ${TlsSettings.CaVariable})" };

    public void AddTo(Command command)
    {
        command.Options.Add(Certificate);
        command.Options.Add(Key);
        command.Options.Add(Password);
        command.Options.Add(Ca);
    }

    public TlsSettings? Resolve(ParseResult parse) =>
        TlsSettings.Resolve(parse.GetValue(Certificate), parse.GetValue(Password), parse.GetValue(Ca), Environment.GetEnvironmentVariable, parse.GetValue(Key));
}
