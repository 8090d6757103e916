using ScottPlot;

namespace MtnnCluster.Cli.Output;

/// <summary>The report's figures, drawn headless with ScottPlot (Skia) and returned as PNG bytes.</summary>
public static class ReportPlots
{
    public const int Width = 960, Height = 380;     // the learning curves, across the page
    public const int SmallWidth = 470, SmallHeight = 300; // two side by side

    private static readonly Color HeadsShade = Color.FromHex("#F5A623").WithAlpha(0.16);
    private static readonly Color TrunkShade = Color.FromHex("#4A90D9").WithAlpha(0.16);
    private static readonly Color LossColor = Color.FromHex("#C0392B");
    private static readonly Color ScoreColor = Color.FromHex("#1F6FB2");

    /// <summary>Training loss (left axis) and validation score (right axis) per epoch, epochs shaded by phase.</summary>
    public static byte[] LearningCurves(IReadOnlyList<EpochHistory> history, int bestEpoch)
    {
        var plot = NewPlot();
        foreach (var epoch in history)
            if (Shade(epoch.Phase) is { } shade)
            {
                var span = plot.Add.HorizontalSpan(epoch.Epoch - 0.5, epoch.Epoch + 0.5, shade);
                span.LineStyle.Width = 0;
            }
        var loss = Points(history, h => h.TrainLoss);
        if (loss.Xs.Length > 0)
        {
            var line = plot.Add.Scatter(loss.Xs, loss.Ys, LossColor);
            line.LegendText = "training loss";
            line.LineWidth = 2;
        }
        var score = Points(history, h => h.ValidScore);
        if (score.Xs.Length > 0)
        {
            var line = plot.Add.Scatter(score.Xs, score.Ys, ScoreColor);
            line.LegendText = "validation score";
            line.LineWidth = 2;
            line.Axes.YAxis = plot.Axes.Right;
        }
        if (bestEpoch > 0)
        {
            var best = plot.Add.VerticalLine(bestEpoch, 1.5f, Colors.Black.WithAlpha(0.6), LinePattern.Dashed);
            best.LegendText = $"best epoch ({bestEpoch})";
        }
        foreach (var phase in history.Select(h => h.Phase).Distinct())
            if (Shade(phase) is { } shade)
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{phase} epoch", FillColor = shade.WithAlpha(0.45) });
        plot.ShowLegend(Edge.Bottom); // below the axes: curves can be anywhere inside
        plot.XLabel("epoch");
        plot.Axes.Bottom.TickGenerator = WholeNumbers();
        plot.YLabel("training loss (mean per label)");
        plot.Axes.Right.Label.Text = "validation score";
        plot.Axes.SetLimitsX(0.5, Math.Max(history.Count, 1) + 0.5);
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Seconds of training per epoch, one bar per epoch in the colour of its phase.</summary>
    public static byte[] EpochTimes(IReadOnlyList<EpochHistory> history)
    {
        var plot = NewPlot();
        var bars = history.Select(h => new Bar
        {
            Position = h.Epoch,
            Value = h.Seconds,
            FillColor = (Shade(h.Phase) ?? Colors.Gray.WithAlpha(0.16)).WithAlpha(0.85),
            LineWidth = 0,
        }).ToList();
        plot.Add.Bars(bars);
        foreach (var phase in history.Select(h => h.Phase).Distinct())
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{phase} epoch", FillColor = (Shade(phase) ?? Colors.Gray).WithAlpha(0.85) });
        plot.ShowLegend(Alignment.UpperRight);
        plot.XLabel("epoch");
        plot.Axes.Bottom.TickGenerator = WholeNumbers();
        plot.YLabel("training seconds");
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsX(0.5, Math.Max(history.Count, 1) + 0.5);
        return plot.GetImageBytes(SmallWidth, SmallHeight, ImageFormat.Png);
    }

    /// <summary>How many tasks reached each value of a metric, with the mean marked.</summary>
    public static byte[] Histogram(IReadOnlyCollection<double> values, string metric, double low, double high)
    {
        var plot = NewPlot();
        var binSize = (high - low) / (values.Count >= 200 ? 40 : 20);
        var histogram = ScottPlot.Statistics.Histogram.WithBinSize(binSize, low, high);
        histogram.AddRange(values);
        var bars = plot.Add.Histogram(histogram);
        bars.BarWidthFraction = 0.9;
        var mean = plot.Add.VerticalLine(values.Average(), 2f, LossColor, LinePattern.Dashed);
        mean.LegendText = $"mean {values.Average():F3}, {values.Count:N0} tasks";
        plot.ShowLegend(Alignment.UpperLeft);
        plot.XLabel(metric);
        plot.YLabel("tasks");
        plot.Axes.Left.TickGenerator = WholeNumbers();
        plot.Axes.Margins(bottom: 0);
        return plot.GetImageBytes(SmallWidth, SmallHeight, ImageFormat.Png);
    }

    /// <summary>
    /// A search's trials: each trial's validation score after every rung it trained in (x: the rung's epochs), the
    /// best trial drawn thick, the others thin.
    /// </summary>
    public static byte[] SearchRungs(IReadOnlyList<int> rungEpochs, IReadOnlyList<(string Name, IReadOnlyList<double> Scores)> trials, int best)
    {
        var plot = NewPlot();
        for (var t = 0; t < trials.Count; t++)
        {
            var scores = trials[t].Scores;
            if (scores.Count == 0) continue;
            var xs = rungEpochs.Take(scores.Count).Select(e => (double)e).ToArray();
            var line = plot.Add.Scatter(xs, scores.ToArray(), t == best ? ScoreColor : Colors.Gray.WithAlpha(0.7));
            line.LineWidth = t == best ? 3 : 1;
            line.MarkerSize = t == best ? 8 : 5;
            if (t == best) line.LegendText = $"best: {trials[t].Name}";
        }
        plot.ShowLegend(Alignment.LowerRight);
        plot.XLabel("epochs trained (rung)");
        plot.Axes.Bottom.TickGenerator = WholeNumbers();
        plot.YLabel("validation score");
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>The face the plots use when it is there (Debian's and Ubuntu's fonts-dejavu-core; both images install it).</summary>
    public const string SansFamily = "DejaVu Sans";

    /// <summary>
    /// Where Skia looks for fonts: the Linux build without dependencies has no fontconfig and reads only this folder.
    /// </summary>
    public const string FontDirectory = "/usr/share/fonts";

    /// <summary>
    /// A folder of .ttf/.otf files the plots take their fonts from instead of <see cref="FontDirectory"/>: for a
    /// machine where fonts cannot be installed system-wide (no root), and for tests of a machine without any.
    /// </summary>
    public const string FontDirectoryVariable = "MTNN_FONT_DIRECTORY";

    private static readonly string? OwnFonts = Environment.GetEnvironmentVariable(FontDirectoryVariable) is { Length: > 0 } own ? own : null;
    private static readonly string[] Families = OwnFonts is null ? SkiaSharp.SKFontManager.Default.FontFamilies.ToArray() : LoadFonts(OwnFonts);

    /// <summary>The families of the font files under <paramref name="directory"/>, made known to ScottPlot by name.</summary>
    private static string[] LoadFonts(string directory)
    {
        var families = new List<string>();
        if (!Directory.Exists(directory)) return [];
        foreach (var file in Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".ttf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".otf", StringComparison.OrdinalIgnoreCase)))
        {
            using var face = SkiaSharp.SKTypeface.FromFile(file);
            if (face is null) continue;
            ScottPlot.Fonts.AddFontFile(face.FamilyName, file, face.IsBold, face.IsItalic);
            families.Add(face.FamilyName);
        }
        return families.Distinct().ToArray();
    }
    private static int _fontWarned;

    private static Plot NewPlot()
    {
        // with no font at all Skia draws every title, label, tick and legend as nothing, silently: say so, once
        if (MissingFontWarning(Families) is { } warning && Interlocked.Exchange(ref _fontWarned, 1) == 0)
            Console.Error.WriteLine($"warning: {warning}");
        var plot = new Plot();
        // ScottPlot's default on Linux is a serif face; a sans one reads better beside the page's text
        if (Families.Contains(SansFamily)) plot.Font.Set(SansFamily);
        return plot;
    }

    /// <summary>
    /// The warning for a machine whose plots would have no text, or null when a font is there. With none, Skia lists
    /// one family without a name (an empty face of no glyphs).
    /// </summary>
    public static string? MissingFontWarning(IReadOnlyCollection<string> families) => families.Any(f => f.Length > 0) ? null :
        $"no font found under {OwnFonts ?? FontDirectory}: the report's plots will have no text (titles, axes, ticks, legends); " +
        $"install a TrueType font there, such as {SansFamily} (Debian and Ubuntu: apt-get install fonts-dejavu-core), or name a folder of .ttf files in {FontDirectoryVariable}";

    private static ScottPlot.TickGenerators.NumericAutomatic WholeNumbers() => new() { IntegerTicksOnly = true };

    private static Color? Shade(string phase) => phase switch
    {
        "heads" => HeadsShade,
        "trunk" => TrunkShade,
        _ => null,
    };

    private static (double[] Xs, double[] Ys) Points(IEnumerable<EpochHistory> history, Func<EpochHistory, double?> value)
    {
        var points = history.Where(h => value(h) is not null).ToArray();
        return (points.Select(h => (double)h.Epoch).ToArray(), points.Select(h => value(h)!.Value).ToArray());
    }
}
