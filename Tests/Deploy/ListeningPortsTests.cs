using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using k8s.Models;
using MtnnCluster.Tests.Cluster;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Deploy;

/// <summary>
/// What the pods would listen on, against what the NetworkPolicy admits: a coordinator and a worker started as real
/// processes on 127.0.0.1 with the exact arguments of the rendered manifests, through a short run (so that every
/// listener, the data plane's included, has opened). Their listening TCP sockets, read from /proc, must each be a
/// port the policy admits. One host cannot give both processes the same ports, so each manifest port P is mapped to
/// a free port per process, consistently in every argument; the test fails on a socket no admitted port maps to.
/// Where the test must differ from a pod it says so: 127.0.0.1 for 0.0.0.0 and the pods' DNS names, a small CSV and
/// a short run in the ConfigMap, cpu for cuda, and the data root the CSV's directory.
/// </summary>
[Collection(Processes.Collection)]
public sealed partial class ListeningPortsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [GeneratedRegex(@"\$\((?<name>[A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"^--(?<option>bind|exchange-port|health-port|metrics-port|data-plane-port)=(?:(?<host>[^:]+):)?(?<port>\d+)$")]
    private static partial Regex PortArgument();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The container's arguments with $(VAR) expanded from its env (<paramref name="overrides"/> first), and its port mapping.</summary>
    private static (string[] Args, Dictionary<int, int> Ports) CommandLine(V1Job job, V1ConfigMap config, IReadOnlyDictionary<string, string> overrides)
    {
        var container = Assert.Single(job.Spec.Template.Spec.Containers);
        var values = container.Env.ToDictionary(e => e.Name, e =>
            overrides.TryGetValue(e.Name, out var o) ? o
            : e.Value ?? (e.ValueFrom.FieldRef is not null ? "0" : config.Data[e.ValueFrom.ConfigMapKeyRef.Key]));
        var ports = new Dictionary<int, int>();
        var args = container.Args.Select(a => VariableReference().Replace(a, m => values[m.Groups["name"].Value])).Select(a =>
        {
            if (PortArgument().Match(a) is not { Success: true } m) return a;
            var port = int.Parse(m.Groups["port"].Value, CultureInfo.InvariantCulture);
            if (!ports.TryGetValue(port, out var mapped)) ports[port] = mapped = FreePort();
            return m.Groups["host"].Success ? $"--{m.Groups["option"].Value}=127.0.0.1:{mapped}" : $"--{m.Groups["option"].Value}={mapped}";
        }).ToArray();
        return (args, ports);
    }

    private static HashSet<int> Listening(int pid) => ListeningSockets.Of(pid).Select(s => s.Port).ToHashSet();

    [Fact]
    public async Task Every_port_the_pods_listen_on_is_one_the_network_policy_admits()
    {
        var (coordinatorJob, workerJob, config, policy) = ManifestTests.Rendered4Processes();
        var admitted = policy.Spec.Ingress.SelectMany(r => r.Ports).Select(p => int.Parse(p.Port.Value, CultureInfo.InvariantCulture)).ToHashSet();
        var scratch = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"mtnn-ports-{Guid.NewGuid():N}")).FullName;
        try
        {
            var data = Directory.CreateDirectory(Path.Combine(scratch, "data")).FullName;
            var csv = Path.Combine(data, "tox21-400.csv");
            File.WriteAllLines(csv, File.ReadLines(RepoPaths.File("examples/tox21.csv")).Take(401));
            // a run small enough for this machine, yet whose trunk (2048 bits x 64) travels on the data plane
            var run = new Dictionary<string, string>
            {
                ["MTNN_DATA"] = csv, ["MTNN_OUT"] = Path.Combine(scratch, "out"), ["MTNN_EPOCHS"] = "2", ["MTNN_PATIENCE"] = "0",
                ["MTNN_LAYERS"] = "64", ["MTNN_BATCH_SIZE"] = "64", ["MTNN_MIN_WORKERS"] = "1", ["MTNN_PRECISION"] = "fp32",
            };
            var (coordinatorArgs, coordinatorPorts) = CommandLine(coordinatorJob, config, run);
            var seed = $"127.0.0.1:{coordinatorPorts[Hosting.NodeDefaults.RemotingPort]}";
            var (workerArgs, workerPorts) = CommandLine(workerJob, config, new Dictionary<string, string>());
            coordinatorArgs = coordinatorArgs.Select(a => a.StartsWith("--public-host=", StringComparison.Ordinal) ? "--public-host=127.0.0.1" : a).ToArray();
            workerArgs = workerArgs.Select(a =>
                a.StartsWith("--public-host=", StringComparison.Ordinal) ? "--public-host=127.0.0.1"
                : a == "--device=cuda" ? "--device=cpu"
                : a.StartsWith("--data-root=", StringComparison.Ordinal) ? $"--data-root={data}"
                : a).ToArray();
            output.WriteLine($"coordinator: {string.Join(' ', coordinatorArgs)}\nworker: {string.Join(' ', workerArgs)}");

            using var processes = new ProcessGroup(output);
            var environment = new Dictionary<string, string> { [Hosting.ClusterNodeOptions.SeedsVariable] = seed };
            var coordinator = processes.Start(coordinatorArgs, environment);
            var worker = processes.Start(workerArgs, environment);
            var seen = new Dictionary<string, HashSet<int>> { ["coordinator"] = [], ["worker"] = [] };
            var clock = Stopwatch.StartNew();
            while (!(coordinator.HasExited && worker.HasExited) && clock.Elapsed < Limit)
            {
                seen["coordinator"].UnionWith(Listening(coordinator.Id));
                seen["worker"].UnionWith(Listening(worker.Id));
                await Task.Delay(100);
            }
            Assert.Equal(0, await processes.WaitForExit(worker, TimeSpan.FromSeconds(10)));
            Assert.Equal(0, await processes.WaitForExit(coordinator, TimeSpan.FromSeconds(10)));

            var violations = new List<string>();
            foreach (var (node, ports) in new[] { ("coordinator", coordinatorPorts), ("worker", workerPorts) })
            {
                var allowed = ports.Where(p => admitted.Contains(p.Key)).ToDictionary(p => p.Value, p => p.Key);
                output.WriteLine($"{node} listened on {string.Join(", ", seen[node].Order().Select(p => allowed.TryGetValue(p, out var m) ? $"{p} (manifest {m})" : $"{p} (NOT ADMITTED)"))}");
                Assert.NotEmpty(seen[node]);
                violations.AddRange(seen[node].Where(p => !allowed.ContainsKey(p)).Select(p => $"{node} listens on {p}, which is none of the manifest's ports the NetworkPolicy admits ({string.Join(", ", admitted.Order())})"));
            }
            Assert.True(violations.Count == 0, string.Join("; ", violations));
            // and each declares the data plane's port and serves it
            foreach (var (node, ports) in new[] { ("coordinator", coordinatorPorts), ("worker", workerPorts) })
                Assert.True(ports.TryGetValue(Hosting.NodeDefaults.DataPlanePort, out var dataPlane) && seen[node].Contains(dataPlane),
                    $"{node}: no --data-plane-port={Hosting.NodeDefaults.DataPlanePort} it listens on");
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }
}

/// <summary>The TCP sockets a process listens on, from /proc: its socket inodes (/proc/PID/fd) among /proc/net/tcp{,6}'s listeners.</summary>
public static class ListeningSockets
{
    public static List<(IPAddress Address, int Port)> Of(int pid)
    {
        var inodes = new HashSet<string>();
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                    inodes.Add(target[8..^1]);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return []; // the process has exited
        }
        var sockets = new List<(IPAddress, int)>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; addresses in hex, 32-bit words in host order
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length <= 9 || fields[3] != "0A" || !inodes.Contains(fields[9])) continue;
                var (hex, port) = (fields[1][..fields[1].IndexOf(':')], int.Parse(fields[1][(fields[1].IndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                var bytes = Convert.FromHexString(hex);
                for (var word = 0; word < bytes.Length; word += 4) Array.Reverse(bytes, word, 4);
                sockets.Add((new IPAddress(bytes), port));
            }
        }
        return sockets;
    }
}
