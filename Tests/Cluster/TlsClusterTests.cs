using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MtnnCluster.Hosting;
using MtnnCluster.Tests.Data;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Cluster;

/// <summary>
/// A private PKI made with openssl for one test class: the cluster CA, node certificates it signed, and an
/// intruder's certificate from another CA. Keys are P-256, so making them all takes about a second.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string Password = "test-secret";
    private readonly ScratchDirectory _dir = new();

    public TestPki()
    {
        MakeCa("cluster-ca");
        MakeCa("other-ca");
        foreach (var node in new[] { "coordinator", "worker-a" }) MakeNode(node, "cluster-ca");
        MakeNode("intruder", "other-ca");
        MakeNode("web-server", "cluster-ca", "serverAuth"); // the cluster CA's, but issued for something else
    }

    public string Root => _dir.Root;
    public string Ca => File("cluster-ca.pem");
    public string OtherCa => File("other-ca.pem");
    public string Pfx(string node) => File($"{node}.pfx");
    public string Pem(string node) => File($"{node}.pem");
    public string Key(string node) => File($"{node}.key");
    public string File(string name) => Path.Combine(_dir.Root, name);

    public void Dispose() => _dir.Dispose();

    private void MakeCa(string name) =>
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.pem",
            "-days", "2", "-subj", $"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

    private void MakeNode(string name, string ca, string usages = "serverAuth,clientAuth")
    {
        OpenSsl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", $"/CN={name}");
        _dir.WriteText($"{name}.ext", $"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usages}\n");
        OpenSsl("x509", "-req", "-in", $"{name}.csr", "-CA", $"{ca}.pem", "-CAkey", $"{ca}.key", "-CAcreateserial", "-out", $"{name}.pem", "-days", "2", "-extfile", $"{name}.ext");
        OpenSsl("pkcs12", "-export", "-in", $"{name}.pem", "-inkey", $"{name}.key", "-out", $"{name}.pfx", "-passout", $"pass:{Password}");
    }

    private void OpenSsl(params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = _dir.Root, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(30_000)) { process.Kill(); throw new TimeoutException("openssl " + args[0]); }
        if (process.ExitCode != 0) throw new InvalidOperationException($"openssl {string.Join(' ', args)}: {errors.Result}");
    }
}

/// <summary>TLS options resolved from the command line and the environment, and peers checked against the cluster CA.</summary>
public sealed class TlsSettingsTests(TestPki pki) : IClassFixture<TestPki>
{
    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Tls_is_off_unless_a_certificate_or_a_ca_is_named() =>
        Assert.Null(TlsSettings.Resolve(null, "x", null, Environment()));

    [Fact]
    public void The_environment_fills_in_what_the_options_leave_out()
    {
        var settings = TlsSettings.Resolve(null, null, pki.Ca, Environment(
            (TlsSettings.CertificateVariable, pki.Pfx("worker-a")), (TlsSettings.PasswordVariable, TestPki.Password)))!;
        Assert.Equal(pki.Pfx("worker-a"), settings.CertificatePath);
        using var certificate = settings.LoadCertificate();
        Assert.True(certificate.HasPrivateKey);
        Assert.Equal("CN=worker-a", certificate.Subject);
    }

    [Theory]
    [InlineData(true, false, "--tls-ca")]
    [InlineData(false, true, "--tls-cert")]
    public void Half_a_tls_configuration_is_refused(bool certificate, bool ca, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(
            certificate ? pki.Pfx("worker-a") : null, TestPki.Password, ca ? pki.Ca : null, Environment()));
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void Bad_files_and_passwords_are_named()
    {
        Assert.Contains("password", Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.Pfx("worker-a"), "wrong", pki.Ca, Environment())).Message);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.File("none.pfx"), "", pki.Ca, Environment())).Message);
        Assert.Contains("--tls-cert", Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.File("worker-a.pem"), "", pki.Ca, Environment())).Message);
        Assert.Contains("--tls-ca", Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.Pfx("worker-a"), TestPki.Password, pki.File("worker-a.ext"), Environment())).Message);
    }

    [Fact]
    public void Only_certificates_signed_by_the_cluster_ca_are_accepted()
    {
        var settings = TlsSettings.Resolve(pki.Pfx("coordinator"), TestPki.Password, pki.Ca, Environment())!;
        var authorities = settings.LoadAuthorities();
        using var member = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(pki.File("worker-a.pem"));
        using var intruder = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(pki.File("intruder.pem"));
        Assert.True(TlsSettings.ChainsTo(member, authorities, out _));
        Assert.False(TlsSettings.ChainsTo(intruder, authorities, out var reason));
        Assert.Contains("CN=intruder", reason);
        Assert.False(TlsSettings.ChainsTo(null, authorities, out _));
    }

    [Fact]
    public void A_certificate_without_both_node_key_usages_is_refused_as_this_node_s_and_as_a_peer_s()
    {
        // a certificate the cluster CA issued for a web server (serverAuth only): before, it passed as any node's
        var error = Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.Pfx("web-server"), TestPki.Password, pki.Ca, Environment()));
        Assert.Contains("lacks the extended key usage clientAuth", error.Message);
        var authorities = TlsSettings.Resolve(pki.Pfx("coordinator"), TestPki.Password, pki.Ca, Environment())!.LoadAuthorities();
        using var web = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(pki.File("web-server.pem"));
        Assert.False(TlsSettings.ChainsTo(web, authorities, out var reason));
        Assert.Contains("CN=web-server", reason);
    }

    [Fact]
    public void A_pem_certificate_and_key_load_as_a_kubernetes_tls_secret_holds_them()
    {
        var settings = TlsSettings.Resolve(pki.File("worker-a.pem"), null, pki.Ca, Environment(), pki.File("worker-a.key"))!;
        using var certificate = settings.LoadCertificate();
        Assert.True(certificate.HasPrivateKey);
        Assert.Equal("CN=worker-a", certificate.Subject);
        // the key of another node is refused, naming both files
        var error = Assert.Throws<ArgumentException>(() => TlsSettings.Resolve(pki.File("worker-a.pem"), null, pki.Ca, Environment(), pki.File("coordinator.key")));
        Assert.Contains("worker-a.pem", error.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:4053", "akka.ssl.tcp://mtnn@127.0.0.1:4053")]
    [InlineData("akka.ssl.tcp://mtnn@10.1.2.3:4053", "akka.ssl.tcp://mtnn@10.1.2.3:4053")]
    public void With_tls_seeds_become_ssl_addresses(string seed, string address) =>
        Assert.Equal(address, ClusterNodeOptions.SeedAddress(seed, tls: true));

    [Fact]
    public void A_seed_of_the_other_scheme_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ClusterNodeOptions.SeedAddress("akka.tcp://mtnn@10.1.2.3:4053", tls: true));
        Assert.Throws<ArgumentException>(() => ClusterNodeOptions.SeedAddress("akka.ssl.tcp://mtnn@10.1.2.3:4053", tls: false));
    }
}

/// <summary>
/// A closed cluster: a coordinator and a worker with certificates from the cluster CA train a run to the end over
/// mutual TLS, while a worker with another CA's certificate (that even trusts the cluster CA) and a worker without
/// TLS try to join first and are kept out.
/// </summary>
[Collection(Processes.Collection)]
public sealed class TlsClusterTests(TestPki pki, ITestOutputHelper output) : IClassFixture<TestPki>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Only_nodes_with_the_cluster_ca_certificates_join_and_the_run_completes()
    {
        var csv = Path.Combine(pki.Root, "tox21-600.csv");
        File.WriteAllLines(csv, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(601));
        var outDirectory = Path.Combine(pki.Root, "run");
        var port = FreePort();
        string[] tls(string node, string ca) => ["--tls-cert", pki.Pfx(node), "--tls-password", TestPki.Password, "--tls-ca", ca];
        using var processes = new ProcessGroup(output);

        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "1", "--out", outDirectory,
            "--data", csv, "--tasks", "NR-AR,NR-AhR,SR-MMP", "--epochs", "2", "--layers", "32", "--bits", "256", "--batch-size", "64",
            .. tls("coordinator", pki.Ca)]);
        await processes.WaitForOutput(coordinator, "waiting for 1 worker", Limit);
        var intruder = processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--id", "intruder", .. tls("intruder", pki.Ca)]);
        var plain = processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--id", "plain"]);

        // both have tried and been turned away before a legitimate worker exists, so the run would have been theirs
        await processes.WaitForOutput(coordinator, "certificate 'CN=intruder' (issuer 'CN=other-ca') does not chain to the cluster CA", Limit);
        // Akka's own "Association failed" goes to the run's log now; what the terminal says is the worker's own line
        await processes.WaitForOutput(plain, "without ever joining the cluster", Limit);

        var member = processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--id", "worker-a"], new Dictionary<string, string>
        {
            [TlsSettings.CertificateVariable] = pki.Pfx("worker-a"),
            [TlsSettings.PasswordVariable] = TestPki.Password,
            [TlsSettings.CaVariable] = pki.Ca,
        });
        Assert.Equal(0, await processes.WaitForExit(member, Limit));
        Assert.Equal(0, await processes.WaitForExit(coordinator, Limit));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        var workers = metrics.RootElement.GetProperty("workers").EnumerateArray().ToArray();
        Assert.Equal(["worker-a"], workers.Select(w => w.GetProperty("id").GetString()));
        Assert.StartsWith("akka.ssl.tcp://mtnn@127.0.0.1:", workers[0].GetProperty("address").GetString());
        Assert.DoesNotContain("worker intruder registered", processes.Output(coordinator));
        Assert.DoesNotContain("worker plain registered", processes.Output(coordinator));
        Assert.False(intruder.HasExited && intruder.ExitCode == 0, "the intruder took part in a run");
        Assert.False(plain.HasExited && plain.ExitCode == 0, "the plain worker took part in a run");
    }

    [Fact]
    public async Task Nodes_given_a_cert_manager_secret_s_files_train_over_mutual_tls()
    {
        // what the TLS component mounts: tls.crt, tls.key and ca.crt of one kubernetes.io/tls secret, named by environment
        Dictionary<string, string> secret(string node)
        {
            var mount = Directory.CreateDirectory(Path.Combine(pki.Root, $"secret-{node}")).FullName;
            System.IO.File.Copy(pki.Pem(node), Path.Combine(mount, "tls.crt"), overwrite: true);
            System.IO.File.Copy(pki.Key(node), Path.Combine(mount, "tls.key"), overwrite: true);
            System.IO.File.Copy(pki.Ca, Path.Combine(mount, "ca.crt"), overwrite: true);
            return new()
            {
                [TlsSettings.CertificateVariable] = Path.Combine(mount, "tls.crt"),
                [TlsSettings.KeyVariable] = Path.Combine(mount, "tls.key"),
                [TlsSettings.CaVariable] = Path.Combine(mount, "ca.crt"),
            };
        }
        var csv = Path.Combine(pki.Root, "tox21-300.csv");
        System.IO.File.WriteAllLines(csv, System.IO.File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(301));
        var outDirectory = Path.Combine(pki.Root, "run-pem");
        var port = FreePort();
        using var processes = new ProcessGroup(output);
        var coordinator = processes.Start(["coordinator", "--bind", $"127.0.0.1:{port}", "--min-workers", "1", "--out", outDirectory,
            "--data", csv, "--tasks", "NR-AR,NR-AhR", "--epochs", "1", "--layers", "32", "--bits", "256", "--batch-size", "64"], secret("coordinator"));
        var worker = processes.Start(["worker", "--seed", $"127.0.0.1:{port}", "--id", "worker-a"], secret("worker-a"));
        Assert.Equal(0, await processes.WaitForExit(worker, Limit));
        Assert.Equal(0, await processes.WaitForExit(coordinator, Limit));
        using var metrics = JsonDocument.Parse(System.IO.File.ReadAllText(Path.Combine(outDirectory, "metrics.json")));
        Assert.StartsWith("akka.ssl.tcp://mtnn@127.0.0.1:", metrics.RootElement.GetProperty("workers")[0].GetProperty("address").GetString());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
