using System.CommandLine;
using System.Diagnostics;
using Akka.Actor;
using MtnnCluster.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Model;
using MtnnCluster.Serialization;
using MtnnCluster.Training;
using MtnnCluster.Transport;
using static TorchSharp.torch;

namespace MtnnCluster.Bench;

/// <summary>
/// <c>bench.sh exchange</c>: a synchronous round's exchange between two processes on 127.0.0.1. This process sends
/// the trunk (a <see cref="TrunkStep"/>) to a peer process, which answers with a gradient of the same size (a
/// <see cref="TrunkGradient"/>), through <see cref="ChunkedDelivery"/> as the coordinator and workers use it: on
/// the TCP data plane, then through Akka in 64 KiB chunks. The share of a round compares the exchange with one
/// worker's compute for a round (its batch forward and backward, the coordinator's reduction and step), measured
/// here on the same trunk.
/// </summary>
public static class ExchangeBench
{
    public static Command Create()
    {
        var options = new BenchOptions();
        var rounds = new Option<int>("--rounds") { Description = "measured round trips per mode (after 3 warm-up rounds)", DefaultValueFactory = _ => 20 };
        var modes = new Option<string>("--modes") { Description = "data-plane, akka, or both", DefaultValueFactory = _ => "both" };
        var command = new Command("exchange", "parameter exchange throughput between two processes on loopback") { rounds, modes };
        options.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            var report = new BenchReport("exchange");
            report.Note(BenchReport.Machine);
            var spec = options.Spec(parse, new ScheduleSpec(ScheduleKind.Joint, 1, 1, 1, 0));
            var which = parse.GetValue(modes)!;
            if (which is not ("both" or "data-plane" or "akka")) throw new ArgumentException($"--modes must be data-plane, akka or both (got '{which}')");
            TensorData[] trunk;
            using (var model = new Trunk(spec.Featurizer.Bits, spec.Model.Layers, spec.Seed, CPU)) trunk = model.Export();
            var bytes = trunk.Sum(t => t.Bytes.LongLength);
            report.Add("trunk_mb", bytes / 1e6);
            report.Add("codec_seconds_per_message", CodecSeconds(trunk));
            var compute = ComputeRoundSeconds(spec, parse.GetValue(rounds));
            report.Add("round_compute_seconds", compute);
            if (which == "both")
            {
                var raw = await MeasureRawTcp(trunk, parse.GetValue(rounds), cancel);
                Add(report, "tcp_", raw, bytes, compute);
            }
            foreach (var (mode, dataPlane) in new[] { ("data-plane", true), ("akka", false) })
            {
                if (which != "both" && which != mode) continue;
                var (reused, allocated) = (TensorArrayPool.Shared.Reused, TensorArrayPool.Shared.Allocated);
                var measured = await MeasureRounds(trunk, dataPlane, parse.GetValue(rounds), cancel);
                Add(report, dataPlane ? "" : "akka_", measured, bytes, compute);
                // received tensors that found a returned array (this process's side; the peer's is the same protocol)
                reused = TensorArrayPool.Shared.Reused - reused;
                report.Add($"{(dataPlane ? "" : "akka_")}received_arrays_reused", reused / Math.Max(1.0, reused + TensorArrayPool.Shared.Allocated - allocated));
            }
            report.Finish(parse.GetValue(options.Json));
            return 0;
        });
        return command;
    }

    /// <summary>Round trips of one mode: wall seconds each, and the CPU seconds both processes spent on all of them.</summary>
    private sealed record Rounds(IReadOnlyList<double> Seconds, double CpuSeconds);

    private static void Add(BenchReport report, string prefix, Rounds rounds, long bytes, double compute)
    {
        var exchange = Median(rounds.Seconds);
        report.Add($"{prefix}round_exchange_seconds", exchange);
        report.Add($"{prefix}mb_per_s", 2 * bytes / 1e6 / exchange);
        report.Add($"{prefix}share_of_round", exchange / (exchange + compute));
        // CPU seconds per round of both processes: what the exchange costs whatever else runs on the machine.
        report.Add($"{prefix}cpu_seconds_per_round", rounds.CpuSeconds / rounds.Seconds.Count);
        report.Add($"{prefix}mb_per_cpu_second", 2 * bytes / 1e6 * rounds.Seconds.Count / rounds.CpuSeconds);
    }

    private static double Cpu(params Process[] processes)
    {
        foreach (var p in processes) p.Refresh();
        return processes.Sum(p => p.TotalProcessorTime.TotalSeconds);
    }

    private static Process StartPeer(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        info.ArgumentList.Add(typeof(ExchangeBench).Assembly.Location);
        info.ArgumentList.Add("exchange-peer");
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the peer process");
    }

    /// <summary>The ceiling: the same bytes echoed over one plain TCP connection, no serialization, no checksum.</summary>
    private static async Task<Rounds> MeasureRawTcp(TensorData[] trunk, int rounds, CancellationToken cancel)
    {
        var payload = trunk.SelectMany(t => t.Bytes).ToArray();
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        using var peer = StartPeer("--parent", "raw", "--raw-port", ((System.Net.IPEndPoint)listener.LocalEndpoint).Port.ToString());
        try
        {
            using var client = await listener.AcceptTcpClientAsync(cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(60), cancel);
            client.NoDelay = true;
            var stream = client.GetStream();
            var back = new byte[payload.Length];
            var header = new byte[8];
            var seconds = new List<double>();
            var self = Process.GetCurrentProcess();
            var cpuBefore = 0.0;
            for (var i = 0; i < rounds + 3; i++)
            {
                if (i == 3) cpuBefore = Cpu(self, peer);
                var clock = Stopwatch.StartNew();
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header, payload.Length);
                await stream.WriteAsync(header, cancel);
                await stream.WriteAsync(payload, cancel);
                await stream.ReadExactlyAsync(header, cancel);
                await stream.ReadExactlyAsync(back, cancel);
                if (i >= 3) seconds.Add(clock.Elapsed.TotalSeconds);
            }
            var cpu = Cpu(self, peer) - cpuBefore;
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header, 0);
            await stream.WriteAsync(header, cancel);
            await peer.WaitForExitAsync(cancel).WaitAsync(TimeSpan.FromSeconds(20), cancel);
            return new Rounds(seconds, cpu);
        }
        finally
        {
            if (!peer.HasExited) peer.Kill(entireProcessTree: true);
        }
    }

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// The CPU floor of moving one message on the data plane, in one process without a socket: serialize into a
    /// pooled buffer, checksum on each side, deserialize into pooled tensor arrays (median of 10).
    /// </summary>
    private static double CodecSeconds(TensorData[] trunk)
    {
        using var system = ActorSystem.Create("codec");
        var serializer = new MtnnMessageSerializer((ExtendedActorSystem)system);
        var message = new TrunkStep("bench", 1, 0, 1, EpochPhase.Joint, 1, trunk);
        var seconds = new List<double>();
        for (var i = 0; i < 12; i++)
        {
            var clock = Stopwatch.StartNew();
            using var writer = new MtnnCluster.Transport.PooledBufferWriter(20 << 20);
            serializer.Serialize(writer, message);
            using var bytes = writer.Detach();
            MtnnCluster.Transport.TransferChecksum.Of(bytes.Span);
            MtnnCluster.Transport.TransferChecksum.Of(bytes.Span);
            var received = (TrunkStep)serializer.FromBinary(bytes.Memory, serializer.Manifest(message), TensorArrayPool.Shared);
            if (i >= 2) seconds.Add(clock.Elapsed.TotalSeconds);
            TensorArrayPool.Shared.Return(received.Trunk); // as a worker does once its trainer has loaded the trunk
        }
        return Median(seconds);
    }

    /// <summary>Median seconds of one worker's step plus the coordinator's reduction, in one process, no exchange.</summary>
    private static double ComputeRoundSeconds(RunSpec spec, int rounds)
    {
        var data = PreparedDataset.Load(spec);
        using var master = new TrunkMaster(data.FeatureSize, spec);
        using var trainer = new ShardTrainer(data, spec, Enumerable.Range(0, data.TaskCount).ToArray(), CPU);
        var steps = Math.Max(1, (trainer.TrainRows + spec.Optimizer.BatchSize - 1) / spec.Optimizer.BatchSize);
        var seconds = new List<double>();
        for (var step = 0; step < Math.Min(steps, rounds + 2); step++)
        {
            var clock = Stopwatch.StartNew();
            var (loss, gradients) = trainer.TrunkStep(1, step, steps, EpochPhase.Joint, master.Parameters);
            master.ApplyGradients([new TrunkContribution("bench", loss.Labels, gradients)]);
            if (step >= 2) seconds.Add(clock.Elapsed.TotalSeconds);
        }
        return Median(seconds.Count > 0 ? seconds : [0]);
    }

    private static async Task<Rounds> MeasureRounds(TensorData[] trunk, bool dataPlane, int rounds, CancellationToken cancel)
    {
        using var system = LoopbackSystem.Create("mtnn", dataPlane);
        var peerReady = new TaskCompletionSource<IActorRef>(TaskCreationOptions.RunContinuationsAsynchronously);
        var driver = system.ActorOf(Props.Create(() => new RoundDriver(peerReady)), "bench");
        var address = ((ExtendedActorSystem)system).Provider.DefaultAddress;
        using var peer = StartPeer("--parent", $"{address}/user/bench", "--data-plane", dataPlane ? "on" : "off");
        try
        {
            var target = await peerReady.Task.WaitAsync(TimeSpan.FromSeconds(60), cancel);
            var message = new TrunkStep("bench", 1, 0, 1, EpochPhase.Joint, 1, trunk);
            await Drive(driver, target, message, 3, cancel); // warm-up: connections, JIT, pools
            var cpuBefore = Cpu(Process.GetCurrentProcess(), peer);
            var seconds = await Drive(driver, target, message, rounds, cancel);
            var cpu = Cpu(Process.GetCurrentProcess(), peer) - cpuBefore;
            target.Tell(new EndRun("bench"));
            await peer.WaitForExitAsync(cancel).WaitAsync(TimeSpan.FromSeconds(20), cancel);
            return new Rounds(seconds, cpu);
        }
        finally
        {
            if (!peer.HasExited) peer.Kill(entireProcessTree: true);
        }
    }

    private static Task<IReadOnlyList<double>> Drive(IActorRef driver, IActorRef peer, TrunkStep message, int rounds, CancellationToken cancel)
    {
        var done = new TaskCompletionSource<IReadOnlyList<double>>(TaskCreationOptions.RunContinuationsAsynchronously);
        driver.Tell(new RunRounds(peer, message, rounds, done));
        return done.Task.WaitAsync(TimeSpan.FromMinutes(10), cancel);
    }

    private sealed record RunRounds(IActorRef Peer, TrunkStep Message, int Rounds, TaskCompletionSource<IReadOnlyList<double>> Done);

    /// <summary>Sends the trunk, waits for the gradient, repeats; records each round trip.</summary>
    private sealed class RoundDriver : ReceiveActor
    {
        private readonly ChunkedDelivery _delivery = new((ExtendedActorSystem)Context.System);
        private readonly ChunkAssembler _assembler = new((ExtendedActorSystem)Context.System);
        private readonly Stopwatch _clock = new();
        private List<double> _seconds = [];
        private RunRounds? _run;

        public RoundDriver(TaskCompletionSource<IActorRef> peerReady)
        {
            Receive<RegisterWorker>(_ => peerReady.TrySetResult(Sender));
            Receive<BlobOffer>(offer => _delivery.Fetch(offer, Self, Sender, null));
            Receive<MessageChunk>(chunk =>
            {
                if (_assembler.Add(chunk, Sender, null) is { } whole) Self.Tell(whole, Sender);
            });
            Receive<RunRounds>(run =>
            {
                _run = run;
                _seconds = [];
                SendNext();
            });
            Receive<TrunkGradient>(gradient =>
            {
                _seconds.Add(_clock.Elapsed.TotalSeconds);
                TensorArrayPool.Shared.Return(gradient.Gradients); // as the coordinator does once it has reduced them
                if (_seconds.Count < _run!.Rounds) SendNext();
                else _run.Done.TrySetResult(_seconds);
            });
        }

        private void SendNext()
        {
            _clock.Restart();
            // a new step each round, as in training: nothing may be served from the sender's last serialization
            _delivery.Send(_run!.Peer, _run.Message with { Step = _run.Message.Step + _seconds.Count + 1 }, Self);
        }
    }

    /// <summary>The peer process: answers every trunk with a gradient of the same tensors, as a worker would.</summary>
    public static Command Peer()
    {
        var parent = new Option<string>("--parent") { Required = true };
        var dataPlane = new Option<string>("--data-plane") { DefaultValueFactory = _ => "on" };
        var rawPort = new Option<int>("--raw-port") { DefaultValueFactory = _ => 0 };
        var command = new Command("exchange-peer", "(internal) the far end of bench.sh exchange") { parent, dataPlane, rawPort };
        command.Hidden = true;
        command.SetAction(async parse =>
        {
            if (parse.GetValue(rawPort) is > 0 and var port)
            {
                await EchoRaw(port);
                return 0;
            }
            using var system = LoopbackSystem.Create("mtnn", parse.GetValue(dataPlane) == "on");
            system.ActorOf(Props.Create(() => new Echo(parse.GetValue(parent)!)), "peer");
            await system.WhenTerminated.WaitAsync(TimeSpan.FromMinutes(15));
            return 0;
        });
        return command;
    }

    /// <summary>Echoes length-prefixed payloads on one connection until a zero length.</summary>
    private static async Task EchoRaw(int port)
    {
        using var client = new System.Net.Sockets.TcpClient { NoDelay = true };
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = client.GetStream();
        var header = new byte[8];
        byte[] buffer = [];
        while (true)
        {
            await stream.ReadExactlyAsync(header);
            var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(header);
            if (length == 0) return;
            if (buffer.Length != length) buffer = new byte[length];
            await stream.ReadExactlyAsync(buffer);
            await stream.WriteAsync(header);
            await stream.WriteAsync(buffer);
        }
    }

    private sealed class Echo : ReceiveActor
    {
        private readonly ChunkedDelivery _delivery = new((ExtendedActorSystem)Context.System);
        private readonly ChunkAssembler _assembler = new((ExtendedActorSystem)Context.System);

        public Echo(string parent)
        {
            Receive<BlobOffer>(offer => _delivery.Fetch(offer, Self, Sender, null));
            Receive<MessageChunk>(chunk =>
            {
                if (_assembler.Add(chunk, Sender, null) is { } whole) Self.Tell(whole, Sender);
            });
            Receive<TrunkStep>(m =>
            {
                _delivery.Send(Sender, new TrunkGradient(m.RunId, "peer", m.Epoch, m.Step, m.Version, 0, 1, 1, m.Trunk), Self);
                TensorArrayPool.Shared.Return(m.Trunk); // serialized by the send (the target is remote): as a worker once it has loaded the trunk
            });
            Receive<EndRun>(_ => Context.System.Terminate());
            Context.ActorSelection(parent).Tell(new RegisterWorker("peer", "cpu", 1));
        }
    }
}
