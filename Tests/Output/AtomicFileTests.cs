using MtnnCluster.Checkpoints;
using MtnnCluster.Tests.Data;
using Xunit;

namespace MtnnCluster.Tests.Output;

/// <summary>Output files are written whole through a temporary created exclusively, so a planted link is never written through.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_link_planted_at_the_old_temporary_name_is_not_written_through()
    {
        // before, metrics.json went through metrics.json.tmp, opened with O_TRUNC: a link there overwrote its target
        var victim = _dir.WriteText("victim.txt", "precious");
        var path = Path.Combine(_dir.Root, "metrics.json");
        File.CreateSymbolicLink(path + ".tmp", victim);
        AtomicFile.Write(path, "{\"ok\":true}"u8);
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal("{\"ok\":true}", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(_dir.Root, ".metrics.json.tmp-*")); // no temporary left behind
    }

    [Fact]
    public void A_link_at_the_target_is_replaced_not_followed()
    {
        var victim = _dir.WriteText("victim.txt", "precious");
        var path = Path.Combine(_dir.Root, "report.html");
        File.CreateSymbolicLink(path, victim);
        AtomicFile.WriteText(path, "<html></html>");
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Null(new FileInfo(path).LinkTarget);
        Assert.Equal("<html></html>", File.ReadAllText(path));
    }
}
