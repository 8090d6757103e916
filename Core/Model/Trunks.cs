using MtnnCluster.Training;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>The one place a run's trunk is built from its spec: training, prediction and task adding all come here.</summary>
public static class Trunks
{
    /// <summary>The trunk <paramref name="spec"/> describes, freshly drawn from its seed, on <paramref name="device"/>.</summary>
    public static ITrunk Create(RunSpec spec, int featureSize, Device device) => spec.Model.Trunk switch
    {
        TrunkKind.Graph => new GraphTrunk(spec.Model.Graph!.Depth, spec.Model.Graph.Hidden, spec.Model.Graph.Readout, featureSize, spec.Model.Layers, spec.Seed, device)
        {
            LayerDropout = spec.Model.Dropout,
        },
        _ => new FingerprintTrunk(featureSize, spec.Model.Layers, spec.Seed, device)
        {
            ComputeType = spec.Precision.TrunkComputeType(),
            LayerDropout = spec.Model.Dropout,
            InputDropout = spec.Model.InputDropout,
        },
    };

    /// <summary>How many tensors the trunk of <paramref name="model"/> has (a checkpoint's weights are checked against it).</summary>
    public static int TensorCount(ModelSpec model, int featureSize) => model.Trunk == TrunkKind.Graph
        ? GraphTrunk.TensorCount(featureSize, model.Layers.Length)
        : 2 * model.Layers.Length;

    /// <summary>Weights and biases of the trunk of <paramref name="model"/> on <paramref name="featureSize"/> features.</summary>
    public static long ParameterCount(ModelSpec model, int featureSize) => model.Trunk == TrunkKind.Graph
        ? GraphTrunk.ParameterCount(model.Graph!.Hidden, featureSize, model.Layers)
        : RunSpec.TrunkParameterCount(featureSize, model.Layers);

    /// <summary>The trunk's name for people: what it is and its shape.</summary>
    public static string Describe(ModelSpec model, int featureSize) => model.Trunk == TrunkKind.Graph
        ? $"graph (D-MPNN depth {model.Graph!.Depth}, hidden {model.Graph.Hidden}, {model.Graph.Readout.ToString().ToLowerInvariant()} readout" +
          $"{(featureSize > 0 ? $", {featureSize} molecule features" : "")}, layers {string.Join(',', model.Layers)})"
        : $"fingerprint ({featureSize} inputs, layers {string.Join(',', model.Layers)})";
}
