using Akka.Hosting;
using MtnnCluster.Messages;
using MtnnCluster.Serialization;

namespace MtnnCluster.Hosting;

/// <summary>Builder extensions every MtnnCluster node shares.</summary>
public static class MtnnAkkaExtensions
{
    /// <summary>Dispatcher for actors that run long tensor work: a thread of their own each.</summary>
    public const string ComputeDispatcher = "mtnn.compute-dispatcher";

    /// <summary>
    /// Binds <see cref="MtnnMessageSerializer"/> to every protocol message, defines the compute dispatcher, and
    /// sets the log level. With <paramref name="verifySerialization"/> every local message is serialized and
    /// deserialized too (tests), so one process exercises the same bytes a cluster would.
    /// </summary>
    public static AkkaConfigurationBuilder AddMtnnBasics(this AkkaConfigurationBuilder builder, bool verifySerialization = false, string logLevel = "WARNING")
    {
        builder.WithCustomSerializer("mtnn", [typeof(IMtnnMessage)], system => new MtnnMessageSerializer(system));
        builder.AddHocon($$"""
            akka.loglevel = {{logLevel}}
            akka.stdout-loglevel = {{logLevel}}
            akka.actor.serialize-messages = {{(verifySerialization ? "on" : "off")}}
            mtnn.data-plane {
              max-blob-bytes = 1 GiB
              expiry = 2m
              connect-timeout = 10s
              io-timeout = 60s
              max-concurrent-fetches = 8
            }
            {{ComputeDispatcher}} {
              type = PinnedDispatcher
              executor = thread-pool-executor
            }
            """, HoconAddMode.Prepend);
        return builder;
    }
}
