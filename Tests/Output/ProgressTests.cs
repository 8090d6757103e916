using System.Text;
using MtnnCluster.Cli.Runs;
using MtnnCluster.Training;
using Spectre.Console;
using Xunit;

namespace MtnnCluster.Tests.Output;

/// <summary>What a run prints while it trains: plain epoch lines for logs, a live step bar on a terminal.</summary>
public sealed class ProgressTests
{
    [Theory]
    [InlineData(true, "xterm-256color", ProgressStyle.Lines)] // a file, a pipe, CI, kubectl logs
    [InlineData(false, "xterm-256color", ProgressStyle.Live)]
    [InlineData(false, "screen", ProgressStyle.Live)]
    [InlineData(false, "dumb", ProgressStyle.Lines)]
    [InlineData(false, null, ProgressStyle.Lines)]
    [InlineData(false, "", ProgressStyle.Lines)]
    public void Live_bars_only_on_a_terminal_that_can_draw_them(bool redirected, string? terminal, ProgressStyle expected) =>
        Assert.Equal(expected, ProgressStyles.Choose(redirected, terminal));

    [Fact]
    public async Task Without_a_terminal_each_epoch_is_one_plain_line_and_steps_print_nothing()
    {
        var output = new StringWriter();
        var observer = (ITrainingObserver)new RunCompletion(output);

        observer.Info("worker local-0: 6 tasks, 1234 training labels");
        foreach (var step in new[] { 1, 2, 3 })
            observer.StepCompleted(new StepProgress(1, 2, EpochPhase.Trunk, step, 3, step * 128, step * 0.1));
        observer.EpochCompleted(new EpochReport(1, 2, EpochPhase.Trunk, 0.51234, 0.70123, 0.70123, 0.3, 1280, true));
        observer.StepCompleted(new StepProgress(2, 2, EpochPhase.Heads, 1, 1, 384, 0.01));
        observer.EpochCompleted(new EpochReport(2, 2, EpochPhase.Heads, 0.4, 0.69, 0.69, 0.01, 38400, false));
        var error = new InvalidOperationException("stop");
        observer.Failed(error);

        Assert.Equal(
        [
            "worker local-0: 6 tasks, 1234 training labels",
            "epoch   1/2 trunk  loss   0.5123  valid 0.7012 *     0.3 s      1280 rows/s",
            "epoch   2/2 heads  loss   0.4000  valid 0.6900       0.0 s     38400 rows/s",
        ], output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.Same(error, await Assert.ThrowsAsync<InvalidOperationException>(() => ((RunCompletion)observer).Outcome));
    }

    [Fact]
    public async Task On_a_terminal_a_live_bar_follows_the_steps_and_epoch_lines_stay()
    {
        var screen = new Screen();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(screen),
        });
        console.Profile.Width = 120;
        var completion = RunCompletion.Live(console);
        ITrainingObserver observer = completion;

        observer.StepCompleted(new StepProgress(3, 40, EpochPhase.Trunk, 12, 55, 1536, 0.5));
        Assert.True(await screen.Shows("epoch   3/40 trunk step 12/55  3,072 rows/s", TimeSpan.FromSeconds(10)), screen.Text);
        observer.EpochCompleted(new EpochReport(3, 40, EpochPhase.Trunk, 0.25, 0.8, 0.8, 2.5, 2800, true));
        observer.Failed(new InvalidOperationException("stop"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => completion.Outcome.WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Contains("epoch   3/40 trunk  loss   0.2500  valid 0.8000 *     2.5 s      2800 rows/s", screen.Text);
    }

    /// <summary>A terminal's output as text, safe to read while the display's refresh thread writes to it.</summary>
    private sealed class Screen : TextWriter
    {
        private readonly StringBuilder _text = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get { lock (_text) return _text.ToString(); }
        }

        public override void Write(char value)
        {
            lock (_text) _text.Append(value);
        }

        public override void Write(string? value)
        {
            lock (_text) _text.Append(value);
        }

        public async Task<bool> Shows(string text, TimeSpan within)
        {
            for (var waited = TimeSpan.Zero; waited < within; waited += TimeSpan.FromMilliseconds(50))
            {
                if (Text.Contains(text)) return true;
                await Task.Delay(50);
            }
            return Text.Contains(text);
        }
    }
}
