using System.CommandLine;
using MtnnCluster.Data;

namespace MtnnCluster.Cli.Commands;

/// <summary>The columns of a long-format data file (one labelled cell a line), for every command that takes <c>--data</c>.</summary>
public sealed class LongFormatOptions
{
    public Option<string?> TaskColumn { get; } = new("--task-column")
    {
        Description = $"long format: the column naming each line's task (default '{CsvReadOptions.DefaultTaskColumn}'; a file is read as long when its header has the task and label columns, and must be when either option is given)",
    };

    public Option<string?> LabelColumn { get; } = new("--label-column")
    {
        Description = $"long format: the column holding each line's label (default '{CsvReadOptions.DefaultLabelColumn}')",
    };
}
