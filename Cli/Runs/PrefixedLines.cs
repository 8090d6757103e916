using System.Text;

namespace MtnnCluster.Cli.Runs;

/// <summary>Lines written to <paramref name="inner"/> with <paramref name="prefix"/> before each: the runs of a group print side by side.</summary>
public sealed class PrefixedLines(TextWriter inner, string prefix) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override void WriteLine(string? value)
    {
        lock (inner) inner.WriteLine(prefix + value);
    }

    public override void Write(char value) => inner.Write(value);
}
