using TorchSharp;

namespace MtnnCluster.Model;

/// <summary>
/// Scalars that live for the whole process. TorchSharp turns a bare number into a Scalar whose native handle is
/// freed by the finalizer; under GC pressure one was freed during the native call that used it ("Unknown scalar
/// type"). Constants come from here, other numbers are converted explicitly and disposed after use.
/// </summary>
public static class Scalars
{
    public static readonly Scalar One = 1.0.ToScalar();
}
