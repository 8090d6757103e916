using System.Text.RegularExpressions;
using Xunit;

namespace MtnnCluster.Tests.Output;

/// <summary>What the report checks load in headless chromium, and how they read the results back from the DOM.</summary>
internal static class ReportProbe
{
    /// <summary>
    /// Writes to <paramref name="path"/> the page plus two scripts: one first in the head that records every uncaught
    /// error, one at the end that, once the page has loaded, counts the images that decoded and runs <paramref name="afterLoad"/>.
    /// </summary>
    public static string Write(string html, string afterLoad, string path)
    {
        const string recordErrors = """
            <script>addEventListener("error", e => { const r = document.documentElement; r.dataset.errors = (r.dataset.errors || "") + e.message + "|"; });</script>
            """;
        var checkImages = $$"""
            <script>addEventListener("load", () => {
              const root = document.documentElement, images = Array.from(document.images);
              root.dataset.images = images.length;
              root.dataset.shown = images.filter(i => i.complete && i.naturalWidth > 0).length;
              root.dataset.otherSize = images.filter(i => i.naturalWidth !== parseInt(i.getAttribute("width"))).length;
              {{afterLoad}}
              root.dataset.loaded = "yes";
            });</script>
            """;
        var marked = html.Replace("<meta charset=\"utf-8\">", "<meta charset=\"utf-8\">" + recordErrors).Replace("</body>", checkImages + "</body>");
        Assert.NotEqual(html, marked);
        File.WriteAllText(path, marked);
        return path;
    }

    /// <summary>A <c>data-</c> attribute the probe set on the page's root element; null when it is not there.</summary>
    public static string? Attribute(string dom, string name)
    {
        var match = Regex.Match(dom, $"<html[^>]*\\sdata-{name}=\"([^\"]*)\"", RegexOptions.None, TimeSpan.FromSeconds(5));
        return match.Success ? System.Net.WebUtility.HtmlDecode(match.Groups[1].Value) : null;
    }
}
