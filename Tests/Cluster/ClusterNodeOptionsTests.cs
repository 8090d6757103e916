using MtnnCluster.Hosting;
using Xunit;

namespace MtnnCluster.Tests.Cluster;

public sealed class ClusterNodeOptionsTests
{
    [Fact]
    public void Seeds_come_from_the_command_line_then_the_environment_then_the_fallback()
    {
        Assert.Equal(["a:1"], ClusterNodeOptions.ResolveSeeds(["a:1"], "b:2,c:3", "self:9"));
        Assert.Equal(["b:2", "c:3"], ClusterNodeOptions.ResolveSeeds([], " b:2 , c:3 ", "self:9"));
        Assert.Equal(["self:9"], ClusterNodeOptions.ResolveSeeds(null, "", "self:9"));
        Assert.Contains("MTNN_SEEDS", Assert.Throws<ArgumentException>(() => ClusterNodeOptions.ResolveSeeds(null, null, null)).Message);
    }

    [Theory]
    [InlineData("127.0.0.1:4053", "akka.tcp://mtnn@127.0.0.1:4053")]
    [InlineData("coordinator-0.coordinator.mtnn.svc:4053", "akka.tcp://mtnn@coordinator-0.coordinator.mtnn.svc:4053")]
    [InlineData("akka.tcp://mtnn@10.1.2.3:4053", "akka.tcp://mtnn@10.1.2.3:4053")]
    public void Seeds_become_akka_addresses(string seed, string address) =>
        Assert.Equal(address, ClusterNodeOptions.SeedAddress(seed));

    [Theory]
    [InlineData("localhost")]
    [InlineData("host:port")]
    [InlineData("host:70000")]
    [InlineData(":4053")]
    public void A_bad_endpoint_is_refused_naming_the_option(string text) =>
        Assert.Contains("--bind", Assert.Throws<ArgumentException>(() => ClusterNodeOptions.ParseEndpoint(text, "--bind")).Message);
}
