namespace MtnnCluster.Chem;

/// <summary>A SMILES string that cannot be read, or describes a chemically impossible molecule.</summary>
public sealed class SmilesException : Exception
{
    public SmilesException(int position, string reason)
        : base($"Invalid SMILES at position {position}: {reason}")
    {
        Position = position;
        Reason = reason;
    }

    /// <summary>Zero-based character offset the problem was found at.</summary>
    public int Position { get; }

    public string Reason { get; }
}
