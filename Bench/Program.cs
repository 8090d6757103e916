using System.CommandLine;
using MtnnCluster.Bench;
using MtnnCluster.Cli.Commands;

// The benchmark harness (./bench.sh NAME [options]); `reference` is Bench/reference.py, run by bench.sh itself.
var root = new RootCommand("MtnnCluster benchmarks: epoch, collectives, scaling, generate, precision")
{
    EpochBench.Create(),
    CollectivesBench.Create(),
    ScalingBench.Create(),
    GenerateBench.Create(),
    PrecisionBench.Create(),
    FewShotBench.Create(),
    StepBench.Create(),
    GraphPrepBench.Create(),
    GraphStepBench.Create(),
    GraphFeaturesBench.Create(),
};
// Bad options and files end in one line naming them, as with mtnn.
return await CommandErrors.Guard(() => root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
