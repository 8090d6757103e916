using MtnnCluster.Cli.Output;
using MtnnCluster.Tests.Cluster;
using MtnnCluster.Tests.Deploy;
using Xunit;
using Xunit.Abstractions;

namespace MtnnCluster.Tests.Output;

/// <summary>
/// The report's plots with the font the images install (fonts-dejavu-core, which ./test.sh installs here too) and
/// without any font: a real `mtnn train` whose font folder (MTNN_FONT_DIRECTORY) is empty. No mount namespace: that
/// needs privileges an unprivileged container (many users' CI) does not give.
/// </summary>
[Collection(Processes.Collection)]
public sealed class ReportFontTests(ITestOutputHelper output)
{
    private static readonly double[] Scores = [0.61, 0.7, 0.72, 0.75, 0.8, 0.81, 0.9];

    [Fact]
    public void With_the_font_installed_the_plots_draw_their_text()
    {
        var families = SkiaSharp.SKFontManager.Default.FontFamilies.ToArray();
        Assert.True(families.Contains(ReportPlots.SansFamily), $"{ReportPlots.SansFamily} is not under {ReportPlots.FontDirectory}: {Tool.InstallHint} (fonts-dejavu-core)");
        Assert.Null(ReportPlots.MissingFontWarning(families));
        // the same figure under two axis labels: text that is drawn makes the images differ
        var one = ReportPlots.Histogram(Scores, "test ROC-AUC", 0.5, 1.0);
        var other = ReportPlots.Histogram(Scores, "another label", 0.5, 1.0);
        Assert.NotEqual(one, other);
    }

    [Fact]
    public void Without_any_font_a_run_warns_once_naming_the_font_to_install_and_still_writes_its_report()
    {
        Assert.NotNull(ReportPlots.MissingFontWarning([""])); // what Skia lists when it finds no font
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-nofont-{Guid.NewGuid():N}");
        var emptyFonts = Directory.CreateTempSubdirectory("mtnn-no-fonts-").FullName;
        try
        {
            var result = Tool.Run("env", [$"{ReportPlots.FontDirectoryVariable}={emptyFonts}", "dotnet", ProcessGroup.MtnnDll,
                "train", "--data", "synthetic:300,2,0.5", "--epochs", "2", "--layers", "8", "--bits", "128", "--out", outDirectory], TimeSpan.FromMinutes(2));
            output.WriteLine(result.Stdout + result.Stderr);
            Assert.Equal(0, result.Code);
            var warnings = (result.Stdout + result.Stderr).Split('\n').Where(l => l.StartsWith("warning: no font found", StringComparison.Ordinal)).ToArray();
            var warning = Assert.Single(warnings); // once, not once per plot
            Assert.Contains(emptyFonts, warning);
            Assert.Contains("fonts-dejavu-core", warning);
            Assert.True(File.Exists(Path.Combine(outDirectory, ReportWriter.FileName)));
        }
        finally
        {
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
            Directory.Delete(emptyFonts, recursive: true);
        }
    }

    [Fact]
    public void A_font_folder_of_ones_own_is_used_without_a_warning()
    {
        var installed = Directory.EnumerateFiles(ReportPlots.FontDirectory, "DejaVuSans.ttf", SearchOption.AllDirectories).FirstOrDefault();
        Assert.True(installed is not null, $"DejaVuSans.ttf is not under {ReportPlots.FontDirectory}: {Tool.InstallHint} (fonts-dejavu-core)");
        var fonts = Directory.CreateTempSubdirectory("mtnn-own-fonts-").FullName;
        var outDirectory = Path.Combine(Path.GetTempPath(), $"mtnn-ownfont-{Guid.NewGuid():N}");
        try
        {
            File.Copy(installed, Path.Combine(fonts, "DejaVuSans.ttf"));
            var result = Tool.Run("env", [$"{ReportPlots.FontDirectoryVariable}={fonts}", "dotnet", ProcessGroup.MtnnDll,
                "train", "--data", "synthetic:300,2,0.5", "--epochs", "1", "--layers", "8", "--bits", "128", "--out", outDirectory], TimeSpan.FromMinutes(2));
            output.WriteLine(result.Stdout + result.Stderr);
            Assert.Equal(0, result.Code);
            Assert.DoesNotContain("no font found", result.Stdout + result.Stderr);
        }
        finally
        {
            if (Directory.Exists(outDirectory)) Directory.Delete(outDirectory, recursive: true);
            Directory.Delete(fonts, recursive: true);
        }
    }
}
