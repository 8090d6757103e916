namespace MtnnCluster.Cli.Runs;

public enum ProgressStyle { Lines, Live }

/// <summary>Which progress display fits where standard output goes.</summary>
public static class ProgressStyles
{
    /// <summary>
    /// Live bars only on a terminal that can draw them: redrawn lines in a file, a CI log or <c>kubectl logs</c>
    /// would be noise, so anything redirected, and a terminal without a type or of type <c>dumb</c>, gets plain lines.
    /// </summary>
    public static ProgressStyle Choose(bool outputRedirected, string? terminalType) =>
        outputRedirected || string.IsNullOrEmpty(terminalType) || terminalType == "dumb" ? ProgressStyle.Lines : ProgressStyle.Live;
}
