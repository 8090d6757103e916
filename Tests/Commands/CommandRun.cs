using System.CommandLine;
using MtnnCluster.Cli.Commands;

namespace MtnnCluster.Tests.Commands;

/// <summary>Runs mtnn's train, tune and predict commands in this process, capturing what they print.</summary>
internal static class CommandRun
{
    /// <summary>A model small enough for a run of a few seconds on a slice of Tox21.</summary>
    public static readonly string[] Small = ["--epochs", "2", "--layers", "32", "--bits", "256", "--batch-size", "64", "--lr", "3e-3", "--workers", "1"];

    public static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        var root = new RootCommand { TrainCommand.Create(), TuneCommand.Create(), PredictCommand.Create() };
        var (output, error) = (new StringWriter(), new StringWriter());
        var (originalOut, originalError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            return (await root.Parse(args).InvokeAsync(), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }

    /// <summary>The whole <c>mtnn</c> command line (every command, as Program builds it), capturing what it prints.</summary>
    public static async Task<(int Code, string Output, string Error)> RunMtnn(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var (originalOut, originalError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            return (await MtnnCommandLine.InvokeAsync(args, new InvocationConfiguration { Output = output, Error = error }), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }
}
