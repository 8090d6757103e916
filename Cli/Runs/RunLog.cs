using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Akka.Hosting;
using MtnnCluster.Cli.Commands;

namespace MtnnCluster.Cli.Runs;

/// <summary>
/// Where the actor system's log goes. Everything goes to a log file in the run's --out (<see cref="FileName"/>) when
/// there is one; the terminal gets only what a user acts on, in the plain <c>warning:</c>/<c>error:</c> style of the
/// rest of the output and through the run's own writer (so a live progress bar is never drawn over): warnings of
/// MtnnCluster's own actors while the run goes on. Akka's internal warnings (a heartbeat late on a busy machine, a
/// singleton proxy still looking at start-up, peers leaving at the end) go to the file only, or to the terminal
/// with --verbose. Invalid SMILES are collected for a one-line summary and a file instead (<see cref="InvalidSmiles"/>).
/// </summary>
public sealed partial class RunLog : IDisposable
{
    public const string FileName = "mtnn.log";
    public const string InvalidSmilesFile = "invalid_smiles.csv";

    // Akka creates loggers by type: the one log the process's logger actor writes to
    private static RunLog? _current;

    private readonly object _gate = new(); // Monitor.Wait: the invalid SMILES awaited
    private StreamWriter? _file;
    private readonly Action<string> _console;
    private readonly bool _verbose;
    private readonly List<InvalidSmilesRow> _invalid = [];
    private bool _ended;

    /// <summary>
    /// The log of a run: <paramref name="directory"/> gets <see cref="FileName"/> (null: no file, as on a worker,
    /// whose Akka warnings then reach the terminal); <paramref name="console"/> writes a line for the user.
    /// </summary>
    public RunLog(string? directory, Action<string> console, bool verbose)
    {
        _console = console;
        _verbose = verbose;
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
            _file = new StreamWriter(new FileStream(System.IO.Path.Combine(directory, FileName), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        }
        Path = directory is null ? null : System.IO.Path.Combine(directory, FileName);
        _current = this;
    }

    public string? Path { get; }

    /// <summary>The log the actor system's logger writes to now, if any (a group's runs share theirs).</summary>
    public static RunLog? Active => Volatile.Read(ref _current);

    /// <summary>The level the actor system logs at: everything useful for the file; the terminal is filtered here.</summary>
    public static string Level(bool verbose) => verbose ? "DEBUG" : "INFO";

    /// <summary>Replaces Akka's standard-output logger with <see cref="Logger"/>.</summary>
    public static void Configure(AkkaConfigurationBuilder akka) => akka.ConfigureLoggers(setup =>
    {
        setup.ClearLoggers();
        setup.AddLogger<Logger>();
    });

    /// <summary>The run is over: what the actor system says while it stops (peers leaving, a singleton handing over) is for the file only.</summary>
    public void End()
    {
        lock (_gate) _ended = true;
    }

    public void Dispose()
    {
        End();
        Interlocked.CompareExchange(ref _current, null, this);
        lock (_gate)
        {
            try
            {
                _file?.Dispose();
            }
            catch (IOException)
            {
                // the last lines of a log on a full disk
            }
        }
    }

    private void Write(LogEvent e)
    {
        var message = e.Message?.ToString() ?? "";
        var level = e.LogLevel();
        lock (_gate)
        {
            try
            {
                _file?.WriteLine($"{e.Timestamp.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture)} {LevelName(level),-7} {e.LogSource} {message}" +
                                 (e.Cause is { } cause ? $" ({cause.GetType().Name}: {cause.Message})" : ""));
            }
            catch (IOException failure)
            {
                // a full disk: the run's checkpoints matter more than its log, which stops here (said once)
                _console($"warning: {Path}: the log is not written further ({failure.Message})");
                try { _file?.Dispose(); } catch (IOException) { }
                _file = null;
            }
            if (TryParseInvalid(message, out var invalid))
            {
                if (!_invalid.Any(r => r.Line == invalid.Line && r.Path == invalid.Path)) _invalid.Add(invalid); // the runs of a group read one file each
                else if (!_verbose) return;
                Monitor.PulseAll(_gate);
                if (!_verbose) return;
            }
            if (!ForTerminal(e, message, level)) return;
            if (!_verbose && LostAtTheEnd().IsMatch(message))
            {
                // a worker sees its coordinator leave at every normal end, just before its own node stops: said only
                // if the node is still running a while later (a coordinator really lost)
                _ = Task.Delay(HoldLost).ContinueWith(_ =>
                {
                    lock (_gate)
                        if (_ended) return;
                    _console($"warning: {message}");
                }, TaskScheduler.Default);
                return;
            }
        }
        _console(level == LogLevel.ErrorLevel ? $"error: {message}" : level == LogLevel.WarningLevel ? $"warning: {message}" : message);
    }

    private static readonly TimeSpan HoldLost = TimeSpan.FromSeconds(10);

    [GeneratedRegex(@"coordinator lost")]
    private static partial Regex LostAtTheEnd();

    private bool ForTerminal(LogEvent e, string message, LogLevel level)
    {
        if (_verbose) return level >= LogLevel.InfoLevel;
        if (level < LogLevel.WarningLevel || _ended) return false;
        // the TLS validator runs inside Akka's transport and logs through its logger: a refused peer is still ours to say
        var ours = e.LogClass?.Namespace?.StartsWith("MtnnCluster", StringComparison.Ordinal) == true
                   || message.StartsWith("TLS: refused", StringComparison.Ordinal);
        // a run's failure is the command's own `error:` line; printed here too it would be said twice
        if (ours && level == LogLevel.ErrorLevel && RunFailed().IsMatch(message)) return false;
        return ours || level == LogLevel.ErrorLevel; // Akka's own errors during a run are real problems
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => "DEBUG",
        LogLevel.InfoLevel => "INFO",
        LogLevel.WarningLevel => "WARNING",
        _ => "ERROR",
    };

    /// <summary>
    /// The invalid SMILES logged so far, waiting up to <paramref name="wait"/> for <paramref name="expected"/> of them
    /// (the coordinator logs each before it reports the count; the logger actor may not have written them yet).
    /// </summary>
    public IReadOnlyList<InvalidSmilesRow> InvalidSmiles(int expected, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        lock (_gate)
        {
            while (_invalid.Count < expected && DateTime.UtcNow < deadline) Monitor.Wait(_gate, deadline - DateTime.UtcNow);
            return _invalid.OrderBy(r => r.Path, StringComparer.Ordinal).ThenBy(r => r.Line).ToList();
        }
    }

    /// <summary>
    /// The coordinator's line about the data (<c>FILE: N rows (K invalid SMILES skipped), …</c>) with the first three
    /// invalid SMILES and the file holding them all, which is written to <paramref name="outDirectory"/>; other lines as they are.
    /// </summary>
    public string Summarise(string line, string outDirectory)
    {
        if (InvalidSummary().Match(line) is not { Success: true } m) return line;
        var count = int.Parse(m.Groups["count"].Value, CultureInfo.InvariantCulture);
        if (count == 0) return line.Replace(m.Groups["note"].Value, "");
        var rows = InvalidSmiles(count, TimeSpan.FromSeconds(2));
        if (rows.Count == 0) return line; // logged elsewhere (another process's log): the count alone is what is known
        var file = System.IO.Path.Combine(outDirectory, InvalidSmilesFile);
        try
        {
            WriteInvalid(file, rows);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return line.Replace(m.Groups["note"].Value, $"({count} invalid SMILES skipped; {file} not written: {e.Message})");
        }
        return line.Replace(m.Groups["note"].Value, $"({Describe(rows, file, count)})");
    }

    /// <summary><c>K invalid SMILES skipped: line L 'SMILES', … ; all in FILE</c>: the count, the first three, where the rest are.</summary>
    public static string Describe(IReadOnlyList<InvalidSmilesRow> rows, string file, int? count = null)
    {
        var multipleFiles = rows.Select(r => r.Path).Distinct().Count() > 1;
        var first = rows.Take(3).Select(r => $"{(multipleFiles ? System.IO.Path.GetFileName(r.Path) + ":" : "")}line {r.Line} '{Shorten(r.Smiles)}'");
        var total = count ?? rows.Count;
        return $"{total} invalid SMILES skipped: {string.Join(", ", first)}{(total > 3 ? ", …" : "")}; all in {file}";
    }

    /// <summary>A data warning about one invalid SMILES (<c>FILE:LINE: invalid SMILES '…' skipped (why)</c>), parsed.</summary>
    public static bool TryParseInvalid(string message, out InvalidSmilesRow row)
    {
        var m = InvalidSmilesLine().Match(message);
        row = m.Success ? new InvalidSmilesRow(m.Groups["path"].Value, int.Parse(m.Groups["line"].Value, CultureInfo.InvariantCulture), m.Groups["smiles"].Value, m.Groups["reason"].Value) : null!;
        return m.Success;
    }

    public static void WriteInvalid(string path, IEnumerable<InvalidSmilesRow> rows)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var writer = new StreamWriter(path);
        writer.WriteLine("file,line,smiles,error");
        foreach (var r in rows) writer.WriteLine($"{Csv.Quote(r.Path)},{r.Line},{Csv.Quote(r.Smiles)},{Csv.Quote(r.Error)}");
    }

    private static string Shorten(string smiles) => smiles.Length <= 40 ? smiles : smiles[..37] + "…";

    [GeneratedRegex(@"^(?<path>.+):(?<line>\d+): invalid SMILES '(?<smiles>.*)' skipped \((?<reason>.*)\)$", RegexOptions.Singleline)]
    private static partial Regex InvalidSmilesLine();

    [GeneratedRegex(@"(?<note>\((?<count>\d+) invalid SMILES skipped\))")]
    private static partial Regex InvalidSummary();

    [GeneratedRegex(@"^run \S+ failed")]
    private static partial Regex RunFailed();

    /// <summary>The actor system's logger: every event to the process's current <see cref="RunLog"/>, else to standard error.</summary>
    public sealed class Logger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
    {
        public Logger()
        {
            Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
            Receive<LogEvent>(e =>
            {
                if (Volatile.Read(ref _current) is { } log) log.Write(e);
                else if (e.LogLevel() >= LogLevel.ErrorLevel) Console.Error.WriteLine($"error: {e.Message}");
            });
        }
    }
}

/// <summary>One invalid SMILES of a data file: where, what, why.</summary>
public sealed record InvalidSmilesRow(string Path, int Line, string Smiles, string Error);
