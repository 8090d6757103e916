using System.ComponentModel;
using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Hosting;
using MtnnCluster.Telemetry;
using Xunit;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// The Kubernetes manifests as `kubectl kustomize k8s/` renders them, read into the official client's typed
/// objects, checked for the wiring a typo would break: selectors, ports, seed and host names, probes, the GPU,
/// the disruption budget, the network policy, the grace period, and the arguments the CLI really parses.
/// </summary>
public sealed partial class ManifestTests
{
    private sealed record Rendered(IReadOnlyList<object> Objects)
    {
        public T Single<T>(string name) where T : IKubernetesObject<V1ObjectMeta> =>
            Assert.Single(Objects.OfType<T>(), o => o.Metadata.Name == name);
    }

    private static readonly Lazy<Rendered> Manifests = new(Render);

    private static Rendered Render()
    {
        var info = new ProcessStartInfo("kubectl", ["kustomize", RepoPaths.File("k8s")])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException("kubectl is not on the PATH: ManifestTests render k8s/ with `kubectl kustomize` (kubectl 1.27 or newer); install it and rerun", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(60_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("kubectl kustomize k8s/ took more than 60 s");
            }
            if (process.ExitCode != 0) throw new InvalidOperationException($"kubectl kustomize k8s/ failed ({process.ExitCode}): {stderr.Result}");
            return new Rendered(KubernetesYaml.LoadAllFromString(stdout.Result));
        }
    }

    private static V1StatefulSet Coordinator => Manifests.Value.Single<V1StatefulSet>("mtnn-coordinator");
    private static V1StatefulSet Workers => Manifests.Value.Single<V1StatefulSet>("mtnn-worker");
    private static V1Service Service => Manifests.Value.Single<V1Service>(Coordinator.Spec.ServiceName);
    private static V1ConfigMap RunConfig => Manifests.Value.Single<V1ConfigMap>("mtnn-run");
    private static V1Container Container(V1StatefulSet set) => Assert.Single(set.Spec.Template.Spec.Containers);
    private static IEnumerable<V1StatefulSet> Both => [Coordinator, Workers];

    private static bool Selects(IDictionary<string, string>? selector, IDictionary<string, string> labels) =>
        selector is { Count: > 0 } && selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value);

    private static string? Arg(V1Container container, string option) =>
        container.Args.SingleOrDefault(a => a.StartsWith(option + "=", StringComparison.Ordinal))?[(option.Length + 1)..];

    [Fact]
    public void Every_kind_is_known_to_the_client_and_nothing_names_a_namespace()
    {
        var objects = Manifests.Value.Objects;
        Assert.Equal(
            ["ConfigMap", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "StatefulSet", "StatefulSet"],
            objects.Cast<IKubernetesObject<V1ObjectMeta>>().Select(o => o.Kind).Order());
        Assert.All(objects.Cast<IKubernetesObject<V1ObjectMeta>>(), o => Assert.Null(o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void Selectors_match_the_pod_labels_they_are_meant_to()
    {
        foreach (var set in Both)
            Assert.True(Selects(set.Spec.Selector.MatchLabels, set.Spec.Template.Metadata.Labels), $"{set.Metadata.Name}: its selector misses its own pods");
        Assert.False(Selects(Coordinator.Spec.Selector.MatchLabels, Workers.Spec.Template.Metadata.Labels));
        Assert.False(Selects(Workers.Spec.Selector.MatchLabels, Coordinator.Spec.Template.Metadata.Labels));

        // one headless Service names every pod of both sets, before they are ready (a node must resolve the seed to become ready)
        Assert.All(Both, set => Assert.Equal(Service.Metadata.Name, set.Spec.ServiceName));
        Assert.Equal("None", Service.Spec.ClusterIP);
        Assert.True(Service.Spec.PublishNotReadyAddresses);
        Assert.All(Both, set => Assert.True(Selects(Service.Spec.Selector, set.Spec.Template.Metadata.Labels)));

        var budget = Manifests.Value.Single<V1PodDisruptionBudget>("mtnn-worker");
        Assert.True(Selects(budget.Spec.Selector.MatchLabels, Workers.Spec.Template.Metadata.Labels));
        Assert.False(Selects(budget.Spec.Selector.MatchLabels, Coordinator.Spec.Template.Metadata.Labels));
        Assert.Equal("1", budget.Spec.MaxUnavailable.Value);

        Assert.Equal(1, Coordinator.Spec.Replicas); // one coordinator: it is the cluster's oldest member and the run's owner
        Assert.True(int.Parse(RunConfig.Data["min-workers"]) <= Workers.Spec.Replicas,
            "min-workers exceeds the worker replicas: the coordinator would wait forever");
    }

    [Fact]
    public void Ports_are_the_ones_the_app_serves_and_the_service_and_probes_use_them()
    {
        var expected = new Dictionary<string, int>
        {
            ["remoting"] = NodeDefaults.RemotingPort, ["health"] = NodeDefaults.HealthPort, ["metrics"] = NodeDefaults.MetricsPort,
        };
        foreach (var set in Both)
        {
            var container = Container(set);
            Assert.Equal(expected, container.Ports.ToDictionary(p => p.Name, p => p.ContainerPort));
            Assert.Equal($"0.0.0.0:{NodeDefaults.RemotingPort}", Arg(container, "--bind"));
            Assert.Equal($"{NodeDefaults.HealthPort}", Arg(container, "--health-port"));
            Assert.Equal($"{NodeDefaults.MetricsPort}", Arg(container, "--metrics-port"));

            Assert.Equal(HealthEndpoint.ReadinessPath, container.ReadinessProbe.HttpGet.Path);
            Assert.Equal(HealthEndpoint.LivenessPath, container.LivenessProbe.HttpGet.Path);
            foreach (var probe in new[] { container.ReadinessProbe, container.LivenessProbe })
                Assert.Equal(NodeDefaults.HealthPort, PortNumber(container, probe.HttpGet.Port));

            var annotations = set.Spec.Template.Metadata.Annotations;
            Assert.Equal("true", annotations["prometheus.io/scrape"]);
            Assert.Equal($"{NodeDefaults.MetricsPort}", annotations["prometheus.io/port"]);
            Assert.Equal(TelemetryExport.ScrapePath, annotations["prometheus.io/path"]);
        }
        Assert.Equal(expected, Service.Spec.Ports.ToDictionary(p => p.Name, p => p.Port));
        foreach (var port in Service.Spec.Ports)
            Assert.Equal(port.Port, PortNumber(Container(Coordinator), port.TargetPort));
    }

    private static int PortNumber(V1Container container, IntOrString port) =>
        int.TryParse(port.Value, out var number) ? number : Assert.Single(container.Ports, p => p.Name == port.Value).ContainerPort;

    [Fact]
    public void Seeds_and_public_host_names_are_the_pods_dns_names_behind_the_headless_service()
    {
        // POD.SERVICE resolves in the pods' own namespace through the resolver's search path: namespace-agnostic
        // the coordinator first (only the first seed forms a cluster), then workers within the StatefulSet's replicas,
        // so that a restarted coordinator rejoins the workers' cluster
        var seedList = RunConfig.Data["seeds"].Split(',');
        Assert.Equal($"{Coordinator.Metadata.Name}-0.{Service.Metadata.Name}:{NodeDefaults.RemotingPort}", seedList[0]);
        Assert.True(seedList.Length > 1, "workers must be seeds too, or a restarted coordinator forms a cluster of its own");
        Assert.All(seedList[1..], seed => Assert.Matches($@"^{Workers.Metadata.Name}-(\d+)\.{Service.Metadata.Name}:{NodeDefaults.RemotingPort}$", seed));
        Assert.All(seedList[1..], seed => Assert.InRange(int.Parse(seed.Split('.')[0].Split('-')[^1]), 0, Workers.Spec.Replicas!.Value - 1));
        Assert.Contains("--resume=auto", Container(Coordinator).Args);
        foreach (var set in Both)
        {
            var container = Container(set);
            Assert.Equal($"$(POD_NAME).{Service.Metadata.Name}", Arg(container, "--public-host"));
            var podName = Assert.Single(container.Env, e => e.Name == "POD_NAME");
            Assert.Equal("metadata.name", podName.ValueFrom.FieldRef.FieldPath);
            var seeds = Assert.Single(container.Env, e => e.Name == ClusterNodeOptions.SeedsVariable);
            Assert.Equal((RunConfig.Metadata.Name, "seeds"), (seeds.ValueFrom.ConfigMapKeyRef.Name, seeds.ValueFrom.ConfigMapKeyRef.Key));
            Assert.DoesNotContain(container.Args, a => a.StartsWith("--seed", StringComparison.Ordinal)); // seeds come from MTNN_SEEDS
        }
        // what the coordinator pod announces is exactly the seed the workers dial
        Assert.Equal(seedList[0],
            $"{Arg(Container(Coordinator), "--public-host")!.Replace("$(POD_NAME)", $"{Coordinator.Metadata.Name}-0")}:{NodeDefaults.RemotingPort}");
    }

    [GeneratedRegex(@"\$\((?<name>[A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [Fact]
    public void The_arguments_expand_to_a_command_line_that_mtnn_parses()
    {
        var root = new RootCommand { TrainCommand.Create(), ClusterCommands.Coordinator(), ClusterCommands.Worker() };
        foreach (var set in Both)
        {
            var container = Container(set);
            var values = container.Env.ToDictionary(e => e.Name, e =>
                e.Value ?? (e.ValueFrom.FieldRef is { FieldPath: "metadata.name" } ? $"{set.Metadata.Name}-0"
                    : RunConfig.Data.TryGetValue(e.ValueFrom.ConfigMapKeyRef.Key, out var v) && e.ValueFrom.ConfigMapKeyRef.Name == RunConfig.Metadata.Name ? v
                    : throw new Xunit.Sdk.XunitException($"{set.Metadata.Name}: env {e.Name} names a missing ConfigMap key")));
            var args = container.Args.Select(a => VariableReference().Replace(a, m => values.TryGetValue(m.Groups["name"].Value, out var v)
                ? v : throw new Xunit.Sdk.XunitException($"{set.Metadata.Name}: '{a}' refers to ${m.Groups["name"].Value}, which no env entry defines"))).ToArray();
            var parse = root.Parse(args);
            Assert.True(parse.Errors.Count == 0, $"{set.Metadata.Name}: mtnn {string.Join(' ', args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        }
        Assert.Equal("coordinator", Container(Coordinator).Args[0]);
        Assert.Equal("worker", Container(Workers).Args[0]);
        Assert.Equal("$(POD_NAME)", Arg(Container(Workers), "--id"));
        Assert.Equal("cuda", Arg(Container(Workers), "--device"));
    }

    [Fact]
    public void Workers_get_one_gpu_each_from_the_cuda_image_and_the_coordinator_none()
    {
        var limits = Container(Workers).Resources.Limits;
        Assert.Equal(1, limits["nvidia.com/gpu"].ToInt32());
        Assert.DoesNotContain("nvidia.com/gpu", Container(Coordinator).Resources.Limits?.Keys ?? []);
        foreach (var set in Both)
        {
            var resources = Container(set).Resources;
            Assert.True(resources.Requests.ContainsKey("cpu") && resources.Requests.ContainsKey("memory"), $"{set.Metadata.Name}: no cpu/memory requests");
            Assert.True(resources.Limits.ContainsKey("memory"), $"{set.Metadata.Name}: no memory limit");
        }
        Assert.Matches(@"/mtnn-cuda:[0-9][A-Za-z0-9._-]*$", Container(Workers).Image);
        Assert.Matches(@"/mtnn:[0-9][A-Za-z0-9._-]*$", Container(Coordinator).Image);
    }

    [Fact]
    public void Pods_stop_within_a_grace_period_longer_than_the_hosts_shutdown_and_run_as_the_images_user()
    {
        foreach (var set in Both)
        {
            var pod = set.Spec.Template.Spec;
            Assert.True(pod.TerminationGracePeriodSeconds > NodeDefaults.ShutdownTimeout.TotalSeconds,
                $"{set.Metadata.Name}: terminationGracePeriodSeconds {pod.TerminationGracePeriodSeconds} must exceed the host's shutdown timeout ({NodeDefaults.ShutdownTimeout.TotalSeconds} s)");
            Assert.True(pod.SecurityContext.RunAsNonRoot);
            Assert.Equal(DockerfileLintTests.ImageUser, pod.SecurityContext.RunAsUser);
            Assert.Equal(DockerfileLintTests.ImageUser, pod.SecurityContext.FsGroup); // the shared volume is writable by it
            Assert.False(Container(set).SecurityContext.AllowPrivilegeEscalation);
        }
    }

    [Fact]
    public void Both_mount_the_shared_volume_that_holds_the_dataset_and_the_output()
    {
        var claim = Assert.Single(Manifests.Value.Objects.OfType<V1PersistentVolumeClaim>());
        Assert.Equal(["ReadWriteMany"], claim.Spec.AccessModes);
        foreach (var set in Both)
        {
            var volume = Assert.Single(set.Spec.Template.Spec.Volumes, v => v.PersistentVolumeClaim?.ClaimName == claim.Metadata.Name);
            var mount = Assert.Single(Container(set).VolumeMounts, m => m.Name == volume.Name);
            foreach (var key in new[] { "data", "out" })
                Assert.True(RunConfig.Data[key].StartsWith(mount.MountPath.TrimEnd('/') + "/", StringComparison.Ordinal),
                    $"{set.Metadata.Name}: {key} = {RunConfig.Data[key]} is not on the shared volume mounted at {mount.MountPath}");
        }
    }

    [Fact]
    public void The_network_policy_admits_members_on_remoting_and_a_scraper_on_metrics()
    {
        var policy = Assert.Single(Manifests.Value.Objects.OfType<V1NetworkPolicy>());
        Assert.All(Both, set => Assert.True(Selects(policy.Spec.PodSelector.MatchLabels, set.Spec.Template.Metadata.Labels)));
        Assert.Equal(["Ingress"], policy.Spec.PolicyTypes);
        var rules = policy.Spec.Ingress.ToDictionary(r => Assert.Single(r.Ports).Port.Value, r => r);
        Assert.Equal(new[] { NodeDefaults.RemotingPort, NodeDefaults.HealthPort, NodeDefaults.MetricsPort }.Select(p => $"{p}").Order(), rules.Keys.Order());

        var members = Assert.Single(rules[$"{NodeDefaults.RemotingPort}"].FromProperty);
        Assert.Null(members.NamespaceSelector); // this namespace only
        Assert.All(Both, set => Assert.True(Selects(members.PodSelector.MatchLabels, set.Spec.Template.Metadata.Labels)));

        var scraper = Assert.Single(rules[$"{NodeDefaults.MetricsPort}"].FromProperty);
        Assert.NotNull(scraper.NamespaceSelector);
        Assert.NotNull(scraper.PodSelector);
        Assert.All(Both, set => Assert.False(Selects(scraper.PodSelector.MatchLabels, set.Spec.Template.Metadata.Labels)));
        Assert.Null(rules[$"{NodeDefaults.HealthPort}"].FromProperty); // read-only probes, from the kubelet on the node
    }
}
