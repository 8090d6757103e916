using k8s.Models;
using MtnnCluster.Hosting;
using Xunit;

namespace MtnnCluster.Tests.Deploy;

/// <summary>The manifests' hardening: no API token, bounded CPU and scratch disk, pinned images, and the mutual-TLS component.</summary>
public sealed partial class ManifestTests
{
    /// <summary>k8s/ through an overlay (outside the repository) with <paramref name="extra"/> lines in its kustomization.</summary>
    private static Rendered Overlay(string extra)
    {
        var overlay = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mtnn-overlay-{Guid.NewGuid():N}")).FullName;
        try
        {
            var k8s = Path.GetRelativePath(overlay, RepoPaths.File("k8s"));
            File.WriteAllText(Path.Combine(overlay, "kustomization.yaml"), $"resources:\n  - {k8s}\n{extra.Replace("K8S", k8s)}");
            return Render(overlay);
        }
        finally
        {
            Directory.Delete(overlay, recursive: true);
        }
    }

    /// <summary>The rendered manifests' Jobs, their container's name, ConfigMap and NetworkPolicy, for tests that run what they say.</summary>
    internal static (V1Job Coordinator, V1Job Workers, V1ConfigMap RunConfig, V1NetworkPolicy Policy) Rendered4Processes() =>
        (Coordinator, Workers, RunConfig, Assert.Single(Manifests.Value.Objects.OfType<V1NetworkPolicy>()));

    private static readonly Lazy<Rendered> WithTls = new(() => Overlay("components:\n  - K8S/components/tls\n"));

    [Fact]
    public void Pods_get_no_api_token_and_bounded_cpu_and_scratch_disk()
    {
        foreach (var job in Both)
        {
            Assert.False(job.Spec.Template.Spec.AutomountServiceAccountToken, $"{job.Metadata.Name}: the service-account token is mounted");
            var resources = Container(job).Resources;
            foreach (var kind in new[] { "cpu", "memory", "ephemeral-storage" })
            {
                Assert.True(resources.Requests.ContainsKey(kind), $"{job.Metadata.Name}: no {kind} request");
                Assert.True(resources.Limits.ContainsKey(kind), $"{job.Metadata.Name}: no {kind} limit");
                Assert.True(resources.Limits[kind].ToDecimal() >= resources.Requests[kind].ToDecimal(), $"{job.Metadata.Name}: {kind} limit below its request");
            }
        }
    }

    [Fact]
    public void A_digest_set_once_in_an_overlay_pins_every_job_that_uses_the_image()
    {
        const string Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        var pinned = Overlay($"images:\n  - name: registry.example.com/mtnn\n    digest: {Digest}\n  - name: registry.example.com/mtnn-cuda\n    digest: {Digest}\n");
        foreach (var job in pinned.Objects.OfType<V1Job>())
            Assert.EndsWith($"@{Digest}", Assert.Single(job.Spec.Template.Spec.Containers).Image);
    }

    [Fact]
    public void The_tls_component_mounts_a_cert_manager_secret_and_names_its_files_to_every_node()
    {
        var jobs = WithTls.Value.Objects.OfType<V1Job>().ToArray();
        Assert.Equal(2, jobs.Length);
        foreach (var job in jobs)
        {
            var pod = job.Spec.Template.Spec;
            var container = Assert.Single(pod.Containers);
            var volume = Assert.Single(pod.Volumes, v => v.Secret is not null);
            Assert.Equal("mtnn-tls", volume.Secret.SecretName);
            var mount = Assert.Single(container.VolumeMounts, m => m.Name == volume.Name);
            Assert.True(mount.ReadOnlyProperty);
            var env = container.Env.Where(e => e.Value is not null).ToDictionary(e => e.Name, e => e.Value);
            // cert-manager's file names in a kubernetes.io/tls secret
            Assert.Equal($"{mount.MountPath}/tls.crt", env[TlsSettings.CertificateVariable]);
            Assert.Equal($"{mount.MountPath}/tls.key", env[TlsSettings.KeyVariable]);
            Assert.Equal($"{mount.MountPath}/ca.crt", env[TlsSettings.CaVariable]);
            // the rest of the pod is untouched: the data volume still there, the probes plain HTTP on the health port
            Assert.Contains(pod.Volumes, v => v.PersistentVolumeClaim is not null);
            Assert.Equal(NodeDefaults.HealthPort, PortNumber(container, container.ReadinessProbe.HttpGet.Port));
        }
        Validate(WithTls.Value);
    }

    /// <summary>Every object of <paramref name="rendered"/> against the Kubernetes JSON schemas (npm kubernetes-models).</summary>
    private static void Validate(Rendered rendered)
    {
        var tools = RepoPaths.File(".tools/npm");
        Assert.True(Directory.Exists(Path.Combine(tools, "node_modules", "kubernetes-models")), $"npm package kubernetes-models is not in {tools}: {Tool.InstallHint}");
        var script = File.ReadAllText(RepoPaths.File("Tests/Deploy/validate-manifests.mjs"));
        var file = Path.Combine(Path.GetTempPath(), $"mtnn-manifests-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, rendered.Yaml);
        try
        {
            var result = Tool.Run("node", ["--input-type=module", "--eval", script, file], ToolLimit, workingDirectory: tools);
            Assert.True(result.Code == 0, $"kubernetes-models: {result.Stdout}{result.Stderr}");
            Assert.Equal(rendered.Objects.Count, result.Stdout.Split('\n').Count(l => l.StartsWith("valid ", StringComparison.Ordinal)));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
