using System.CommandLine;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using MtnnCluster.Cli.Commands;
using MtnnCluster.Hosting;
using MtnnCluster.Telemetry;
using Xunit;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// The Kubernetes manifests as `kubectl kustomize k8s/` renders them, read strictly (an unknown field is an error)
/// into the official client's typed objects and validated against the API's JSON schemas (npm kubernetes-models),
/// then checked for the wiring a typo would break: the Jobs' lifecycle, selectors, ports, seed and host names,
/// probes, the GPU, the disruption budget, the network policy, the grace period, the arguments the CLI really
/// parses, and the optional Kueue component.
/// </summary>
public sealed partial class ManifestTests
{
    private static readonly TimeSpan ToolLimit = TimeSpan.FromSeconds(60);

    private sealed record Rendered(string Yaml, IReadOnlyList<object> Objects)
    {
        public T Single<T>(string name) where T : IKubernetesObject<V1ObjectMeta> =>
            Assert.Single(Objects.OfType<T>(), o => o.Metadata.Name == name);
    }

    private static readonly Lazy<Rendered> Manifests = new(() => Render(RepoPaths.File("k8s")));

    /// <summary>k8s/ with the Kueue component, through an overlay such as a user writes (outside the repository).</summary>
    private static readonly Lazy<Rendered> Queued = new(() =>
    {
        var overlay = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mtnn-overlay-{Guid.NewGuid():N}")).FullName;
        try
        {
            var k8s = Path.GetRelativePath(overlay, RepoPaths.File("k8s")); // kustomize refuses absolute paths
            File.WriteAllText(Path.Combine(overlay, "kustomization.yaml"),
                $"resources:\n  - {k8s}\ncomponents:\n  - {Path.Combine(k8s, "components", "kueue")}\n");
            return Render(overlay);
        }
        finally
        {
            Directory.Delete(overlay, recursive: true);
        }
    });

    private static Rendered Render(string directory)
    {
        var yaml = Tool.Output("kubectl", ["kustomize", directory], ToolLimit);
        return new Rendered(yaml, KubernetesYaml.LoadAllFromString(yaml, strict: true));
    }

    private static V1Job Coordinator => Manifests.Value.Single<V1Job>("mtnn-coordinator");
    private static V1Job Workers => Manifests.Value.Single<V1Job>("mtnn-worker");
    private static V1Service Service => Manifests.Value.Single<V1Service>(Coordinator.Spec.Template.Spec.Subdomain);
    private static V1ConfigMap RunConfig => Manifests.Value.Single<V1ConfigMap>("mtnn-run");
    private static V1Container Container(V1Job job) => Assert.Single(job.Spec.Template.Spec.Containers);
    private static IEnumerable<V1Job> Both => [Coordinator, Workers];

    /// <summary>The exit code with which the manifests fail a Job at once (CommandErrors: bad input or options).</summary>
    internal static IEnumerable<int> FailJobExitCodes(V1Job job) =>
        job.Spec.PodFailurePolicy.Rules.Where(r => r.Action == "FailJob").SelectMany(r => r.OnExitCodes.Values);

    internal static (IReadOnlyList<V1Job> Jobs, string Container) Jobs() => ([Coordinator, Workers], Container(Coordinator).Name);

    private static bool Selects(IDictionary<string, string>? selector, IDictionary<string, string> labels) =>
        selector is { Count: > 0 } && selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value);

    private static string? Arg(V1Container container, string option) =>
        container.Args.SingleOrDefault(a => a.StartsWith(option + "=", StringComparison.Ordinal))?[(option.Length + 1)..];

    [Fact]
    public void Every_kind_is_known_to_the_client_and_nothing_names_a_namespace()
    {
        var objects = Manifests.Value.Objects;
        Assert.Equal(
            ["ConfigMap", "Job", "Job", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"],
            objects.Cast<IKubernetesObject<V1ObjectMeta>>().Select(o => o.Kind).Order());
        Assert.All(objects.Cast<IKubernetesObject<V1ObjectMeta>>(), o => Assert.Null(o.Metadata.NamespaceProperty));
    }

    /// <summary>The rendered YAML as it is, unknown fields and all, against the schemas of the Kubernetes API.</summary>
    [Fact]
    public void Every_object_is_valid_against_the_kubernetes_schemas_with_and_without_the_kueue_component()
    {
        var tools = RepoPaths.File(".tools/npm");
        Assert.True(Directory.Exists(Path.Combine(tools, "node_modules", "kubernetes-models")), $"npm package kubernetes-models is not in {tools}: {Tool.InstallHint}");
        var script = File.ReadAllText(RepoPaths.File("Tests/Deploy/validate-manifests.mjs"));
        foreach (var rendered in new[] { Manifests.Value, Queued.Value })
        {
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
        // the validator is no rubber stamp: a wrongly typed field fails
        var broken = Path.Combine(Path.GetTempPath(), $"mtnn-manifests-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(broken, Manifests.Value.Yaml.Replace("backoffLimit: 8", "backoffLimit: eight"));
        try
        {
            var result = Tool.Run("node", ["--input-type=module", "--eval", script, broken], ToolLimit, workingDirectory: tools);
            Assert.Equal(1, result.Code);
            Assert.Contains("invalid batch/v1 Job mtnn-worker", result.Stdout);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public void Both_jobs_finish_with_the_run_and_fail_at_once_on_a_configuration_error()
    {
        foreach (var job in Both)
        {
            var spec = job.Spec;
            // the Job, not the kubelet, replaces a failed pod: needed by podFailurePolicy, and a replacement is a new pod
            Assert.Equal("Never", spec.Template.Spec.RestartPolicy);
            // a replacement starts only when the old pod is gone: both would have the same DNS name
            Assert.Equal("Failed", spec.PodReplacementPolicy);
            Assert.Equal(spec.Completions, spec.Parallelism);
            Assert.InRange(spec.BackoffLimit ?? 6, 3, 20); // an overnight run survives a few lost pods, a crash loop does not go on all night
            Assert.Null(spec.Suspend); // only the Kueue component suspends

            var rules = spec.PodFailurePolicy.Rules;
            var failJob = Assert.Single(rules, r => r.Action == "FailJob");
            Assert.Equal(("In", Container(job).Name), (failJob.OnExitCodes.OperatorProperty, failJob.OnExitCodes.ContainerName));
            Assert.Equal([2], FailJobExitCodes(job)); // CommandErrors' exit code (ExitCodeTests: the executable returns it)
            var ignore = Assert.Single(rules, r => r.Action == "Ignore");
            Assert.Equal("DisruptionTarget", Assert.Single(ignore.OnPodConditions).Type);
            // every other failure (a downed node's exit 1, a kill, a crash) counts and is replaced: no rule hides it
            Assert.DoesNotContain(rules, r => r.Action == "Count" || r.OnExitCodes?.Values.Contains(1) == true);
        }
        Assert.Equal(1, Coordinator.Spec.Completions); // one coordinator: it is the cluster's oldest member and the run's owner
        Assert.Null(Coordinator.Spec.CompletionMode);
        Assert.Equal("Indexed", Workers.Spec.CompletionMode);
        // the first worker that sees its run end completes the Job (and stops the rest): a worker exits 0 for nothing else
        Assert.Equal(1, Assert.Single(Workers.Spec.SuccessPolicy.Rules).SucceededCount);
        Assert.True(int.Parse(RunConfig.Data["min-workers"]) <= Workers.Spec.Parallelism,
            "min-workers exceeds the workers' parallelism: the coordinator would wait forever");
    }

    [Fact]
    public void The_kueue_component_suspends_both_jobs_into_one_queue_and_changes_nothing_else()
    {
        var queued = Queued.Value.Objects.OfType<V1Job>().ToArray();
        Assert.Equal(Both.Select(j => j.Metadata.Name).Order(), queued.Select(j => j.Metadata.Name).Order());
        Assert.All(queued, job => Assert.True(job.Spec.Suspend));
        var queues = queued.Select(job => job.Metadata.Labels["kueue.x-k8s.io/queue-name"]).Distinct();
        Assert.Single(queues);
        // the rest is the base: the same objects, and the Jobs equal but for suspend and the label
        Assert.Equal(Manifests.Value.Objects.Count, Queued.Value.Objects.Count);
        foreach (var job in queued)
        {
            job.Spec.Suspend = null;
            job.Metadata.Labels.Remove("kueue.x-k8s.io/queue-name");
            Assert.Equal(KubernetesJson.Serialize(Manifests.Value.Single<V1Job>(job.Metadata.Name)), KubernetesJson.Serialize(job));
        }
    }

    [Fact]
    public void Selectors_match_the_pod_labels_they_are_meant_to()
    {
        var coordinatorPods = Coordinator.Spec.Template.Metadata.Labels;
        var workerPods = Workers.Spec.Template.Metadata.Labels;
        Assert.False(Selects(coordinatorPods, workerPods) && Selects(workerPods, coordinatorPods), "coordinator and worker pods carry the same labels");

        // one headless Service names every pod of both Jobs, before they are ready (a node must resolve the seed to become ready)
        Assert.All(Both, job => Assert.Equal(Service.Metadata.Name, job.Spec.Template.Spec.Subdomain));
        Assert.Equal("None", Service.Spec.ClusterIP);
        Assert.True(Service.Spec.PublishNotReadyAddresses);
        Assert.All(Both, job => Assert.True(Selects(Service.Spec.Selector, job.Spec.Template.Metadata.Labels)));

        var budget = Manifests.Value.Single<V1PodDisruptionBudget>("mtnn-worker");
        Assert.True(Selects(budget.Spec.Selector.MatchLabels, workerPods));
        Assert.False(Selects(budget.Spec.Selector.MatchLabels, coordinatorPods));
        Assert.Equal("1", budget.Spec.MaxUnavailable.Value);
    }

    [Fact]
    public void Ports_are_the_ones_the_app_serves_and_the_service_and_probes_use_them()
    {
        var expected = new Dictionary<string, int>
        {
            ["remoting"] = NodeDefaults.RemotingPort, ["health"] = NodeDefaults.HealthPort, ["metrics"] = NodeDefaults.MetricsPort,
        };
        var service = new Dictionary<string, int>(expected);
        expected["data-plane"] = NodeDefaults.DataPlanePort;
        foreach (var job in Both)
        {
            var container = Container(job);
            // workers also serve their exchange (embeddings, trunk gradients among them)
            var served = job.Metadata.Name == Workers.Metadata.Name ? new Dictionary<string, int>(expected) { ["exchange"] = NodeDefaults.ExchangePort } : expected;
            Assert.Equal(served, container.Ports.ToDictionary(p => p.Name, p => p.ContainerPort));
            if (job.Metadata.Name == Workers.Metadata.Name) Assert.Equal($"{NodeDefaults.ExchangePort}", Arg(container, "--exchange-port"));
            Assert.Equal($"0.0.0.0:{NodeDefaults.RemotingPort}", Arg(container, "--bind"));
            Assert.Equal($"{NodeDefaults.HealthPort}", Arg(container, "--health-port"));
            Assert.Equal($"{NodeDefaults.MetricsPort}", Arg(container, "--metrics-port"));
            Assert.Equal($"{NodeDefaults.DataPlanePort}", Arg(container, "--data-plane-port"));

            Assert.Equal(HealthEndpoint.ReadinessPath, container.ReadinessProbe.HttpGet.Path);
            Assert.Equal(HealthEndpoint.LivenessPath, container.LivenessProbe.HttpGet.Path);
            foreach (var probe in new[] { container.ReadinessProbe, container.LivenessProbe })
                Assert.Equal(NodeDefaults.HealthPort, PortNumber(container, probe.HttpGet.Port));

            var annotations = job.Spec.Template.Metadata.Annotations;
            Assert.Equal("true", annotations["prometheus.io/scrape"]);
            Assert.Equal($"{NodeDefaults.MetricsPort}", annotations["prometheus.io/port"]);
            Assert.Equal(TelemetryExport.ScrapePath, annotations["prometheus.io/path"]);
        }
        Assert.Equal(service, Service.Spec.Ports.ToDictionary(p => p.Name, p => p.Port));
        foreach (var port in Service.Spec.Ports)
            Assert.Equal(port.Port, PortNumber(Container(Coordinator), port.TargetPort));
    }

    private static int PortNumber(V1Container container, IntOrString port) =>
        int.TryParse(port.Value, out var number) ? number : Assert.Single(container.Ports, p => p.Name == port.Value).ContainerPort;

    [Fact]
    public void Seeds_and_public_host_names_are_the_pods_dns_names_behind_the_headless_service()
    {
        // HOSTNAME.SUBDOMAIN resolves in the pods' own namespace through the resolver's search path: namespace-agnostic.
        // The coordinator's hostname is set; an Indexed Job names pod K's host JOB-K.
        var coordinatorHost = $"{Coordinator.Spec.Template.Spec.Hostname}.{Service.Metadata.Name}";
        Assert.Equal(Coordinator.Metadata.Name, Coordinator.Spec.Template.Spec.Hostname);
        Assert.Null(Workers.Spec.Template.Spec.Hostname); // the Job controller sets it per index
        // the coordinator first (only the first seed forms a cluster), then workers within the Job's indexes, so that
        // a replaced coordinator rejoins the workers' cluster
        var seedList = RunConfig.Data["seeds"].Split(',');
        Assert.Equal($"{coordinatorHost}:{NodeDefaults.RemotingPort}", seedList[0]);
        Assert.True(seedList.Length > 1, "workers must be seeds too, or a replaced coordinator forms a cluster of its own");
        Assert.All(seedList[1..], seed => Assert.Matches($@"^{Workers.Metadata.Name}-(\d+)\.{Service.Metadata.Name}:{NodeDefaults.RemotingPort}$", seed));
        Assert.All(seedList[1..], seed => Assert.InRange(int.Parse(seed.Split('.')[0].Split('-')[^1]), 0, Workers.Spec.Completions!.Value - 1));
        Assert.Contains("--resume=auto", Container(Coordinator).Args);

        Assert.Equal(coordinatorHost, Arg(Container(Coordinator), "--public-host"));
        Assert.Equal($"{Workers.Metadata.Name}-$(JOB_COMPLETION_INDEX).{Service.Metadata.Name}", Arg(Container(Workers), "--public-host"));
        var index = Assert.Single(Container(Workers).Env, e => e.Name == "JOB_COMPLETION_INDEX");
        Assert.Equal("metadata.annotations['batch.kubernetes.io/job-completion-index']", index.ValueFrom.FieldRef.FieldPath);
        foreach (var job in Both)
        {
            var container = Container(job);
            var seeds = Assert.Single(container.Env, e => e.Name == ClusterNodeOptions.SeedsVariable);
            Assert.Equal((RunConfig.Metadata.Name, "seeds"), (seeds.ValueFrom.ConfigMapKeyRef.Name, seeds.ValueFrom.ConfigMapKeyRef.Key));
            Assert.DoesNotContain(container.Args, a => a.StartsWith("--seed", StringComparison.Ordinal)); // seeds come from MTNN_SEEDS
        }
    }

    [GeneratedRegex(@"\$\((?<name>[A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [Fact]
    public void The_arguments_expand_to_a_command_line_that_mtnn_parses()
    {
        var root = new RootCommand { TrainCommand.Create(), ClusterCommands.Coordinator(), ClusterCommands.Worker() };
        foreach (var job in Both)
        {
            var container = Container(job);
            var values = container.Env.ToDictionary(e => e.Name, e =>
                e.Value ?? (e.ValueFrom.FieldRef is { FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } ? "0"
                    : RunConfig.Data.TryGetValue(e.ValueFrom.ConfigMapKeyRef.Key, out var v) && e.ValueFrom.ConfigMapKeyRef.Name == RunConfig.Metadata.Name ? v
                    : throw new Xunit.Sdk.XunitException($"{job.Metadata.Name}: env {e.Name} names a missing ConfigMap key")));
            var args = container.Args.Select(a => VariableReference().Replace(a, m => values.TryGetValue(m.Groups["name"].Value, out var v)
                ? v : throw new Xunit.Sdk.XunitException($"{job.Metadata.Name}: '{a}' refers to ${m.Groups["name"].Value}, which no env entry defines"))).ToArray();
            var parse = root.Parse(args);
            Assert.True(parse.Errors.Count == 0, $"{job.Metadata.Name}: mtnn {string.Join(' ', args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        }
        Assert.Equal("coordinator", Container(Coordinator).Args[0]);
        Assert.Equal("worker", Container(Workers).Args[0]);
        Assert.Equal($"{Workers.Metadata.Name}-$(JOB_COMPLETION_INDEX)", Arg(Container(Workers), "--id"));
        Assert.Equal("cuda", Arg(Container(Workers), "--device"));
    }

    [Fact]
    public void Workers_get_one_gpu_each_from_the_cuda_image_and_the_coordinator_none()
    {
        var limits = Container(Workers).Resources.Limits;
        Assert.Equal(1, limits["nvidia.com/gpu"].ToInt32());
        Assert.DoesNotContain("nvidia.com/gpu", Container(Coordinator).Resources.Limits?.Keys ?? []);
        foreach (var job in Both)
        {
            var resources = Container(job).Resources;
            Assert.True(resources.Requests.ContainsKey("cpu") && resources.Requests.ContainsKey("memory"), $"{job.Metadata.Name}: no cpu/memory requests");
            Assert.True(resources.Limits.ContainsKey("memory"), $"{job.Metadata.Name}: no memory limit");
        }
        Assert.Matches(@"/mtnn-cuda:[0-9][A-Za-z0-9._-]*$", Container(Workers).Image);
        Assert.Matches(@"/mtnn:[0-9][A-Za-z0-9._-]*$", Container(Coordinator).Image);
    }

    [Fact]
    public void Pods_stop_within_a_grace_period_longer_than_the_hosts_shutdown_and_run_as_the_images_user()
    {
        foreach (var job in Both)
        {
            var pod = job.Spec.Template.Spec;
            Assert.True(pod.TerminationGracePeriodSeconds > NodeDefaults.ShutdownTimeout.TotalSeconds,
                $"{job.Metadata.Name}: terminationGracePeriodSeconds {pod.TerminationGracePeriodSeconds} must exceed the host's shutdown timeout ({NodeDefaults.ShutdownTimeout.TotalSeconds} s)");
            Assert.True(pod.SecurityContext.RunAsNonRoot);
            Assert.Equal(DockerfileLintTests.ImageUser, pod.SecurityContext.RunAsUser);
            Assert.Equal(DockerfileLintTests.ImageUser, pod.SecurityContext.FsGroup); // the shared volume is writable by it
            Assert.False(Container(job).SecurityContext.AllowPrivilegeEscalation);
        }
    }

    [Fact]
    public void Both_mount_the_shared_volume_that_holds_the_dataset_and_the_output()
    {
        var claim = Assert.Single(Manifests.Value.Objects.OfType<V1PersistentVolumeClaim>());
        Assert.Equal(["ReadWriteMany"], claim.Spec.AccessModes);
        foreach (var job in Both)
        {
            var volume = Assert.Single(job.Spec.Template.Spec.Volumes, v => v.PersistentVolumeClaim?.ClaimName == claim.Metadata.Name);
            var mount = Assert.Single(Container(job).VolumeMounts, m => m.Name == volume.Name);
            foreach (var key in new[] { "data", "out" })
                Assert.True(RunConfig.Data[key].StartsWith(mount.MountPath.TrimEnd('/') + "/", StringComparison.Ordinal),
                    $"{job.Metadata.Name}: {key} = {RunConfig.Data[key]} is not on the shared volume mounted at {mount.MountPath}");
        }
    }

    [Fact]
    public void The_network_policy_admits_members_on_remoting_and_a_scraper_on_metrics()
    {
        var policy = Assert.Single(Manifests.Value.Objects.OfType<V1NetworkPolicy>());
        Assert.All(Both, job => Assert.True(Selects(policy.Spec.PodSelector.MatchLabels, job.Spec.Template.Metadata.Labels)));
        Assert.Equal(["Ingress"], policy.Spec.PolicyTypes);
        var rules = policy.Spec.Ingress.ToDictionary(r => Assert.Single(r.Ports).Port.Value, r => r);
        Assert.Equal(new[] { NodeDefaults.RemotingPort, NodeDefaults.ExchangePort, NodeDefaults.DataPlanePort, NodeDefaults.HealthPort, NodeDefaults.MetricsPort }
            .Select(p => $"{p}").Order(), rules.Keys.Order());

        foreach (var port in new[] { NodeDefaults.RemotingPort, NodeDefaults.ExchangePort, NodeDefaults.DataPlanePort })
        {
            var members = Assert.Single(rules[$"{port}"].FromProperty);
            Assert.Null(members.NamespaceSelector); // this namespace only
            Assert.All(Both, job => Assert.True(Selects(members.PodSelector.MatchLabels, job.Spec.Template.Metadata.Labels)));
        }

        var scraper = Assert.Single(rules[$"{NodeDefaults.MetricsPort}"].FromProperty);
        Assert.NotNull(scraper.NamespaceSelector);
        Assert.NotNull(scraper.PodSelector);
        Assert.All(Both, job => Assert.False(Selects(scraper.PodSelector.MatchLabels, job.Spec.Template.Metadata.Labels)));
        Assert.Null(rules[$"{NodeDefaults.HealthPort}"].FromProperty); // read-only probes, from the kubelet on the node
    }
}
