using System.CommandLine;
using MtnnCluster.Bench;

// The benchmark harness (./bench.sh NAME [options]); `reference` is Bench/reference.py, run by bench.sh itself.
var root = new RootCommand("MtnnCluster benchmarks: epoch, exchange, scaling, generate")
{
    EpochBench.Create(),
    ExchangeBench.Create(),
    ExchangeBench.Peer(),
    ScalingBench.Create(),
    GenerateBench.Create(),
};
return await root.Parse(args).InvokeAsync();
