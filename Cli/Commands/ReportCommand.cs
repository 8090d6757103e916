using System.CommandLine;
using MtnnCluster.Cli.Output;

namespace MtnnCluster.Cli.Commands;

/// <summary><c>mtnn report</c>: writes report.html again from a finished run's metrics.json.</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var run = new Option<DirectoryInfo>("--run") { Description = "a finished run's --out directory (holds metrics.json)", Required = true };
        var command = new Command("report", "write report.html of a finished run from its metrics.json") { run };
        command.SetAction((parse, _) => CommandErrors.Guard(() =>
        {
            var directory = parse.GetValue(run)!.FullName;
            var path = ReportWriter.Write(directory, ReportWriter.ReadMetrics(directory));
            Console.WriteLine($"wrote {path}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
