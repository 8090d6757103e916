using TorchSharp;
using static TorchSharp.torch;

namespace MtnnCluster.Model;

/// <summary>Entries of compressed sparse rows (row offsets into one array of entries), found on the device.</summary>
internal static class CompressedRows
{
    /// <summary>
    /// For the rows at <paramref name="index"/> (int64, on the device) of a store whose row r holds entries
    /// <paramref name="rowStart"/>[r]..<paramref name="rowStart"/>[r + 1]: each of their <paramref name="total"/>
    /// entries' position in <paramref name="index"/> and in the store, in row order. Call inside a dispose scope.
    /// <paramref name="total"/> null: counted on the device (a wait for it), where the host does not know it.
    /// </summary>
    public static (Tensor RowOf, Tensor At) Runs(Tensor rowStart, Tensor index, long? total)
    {
        var device = index.device;
        var starts = rowStart.index_select(0, index);
        var counts = rowStart.index_select(0, index.add(1L)).sub(starts);
        var entries = total ?? counts.sum().item<long>();
        var rowOf = arange(index.shape[0], ScalarType.Int64, device).repeat_interleave(counts, output_size: entries);
        var firstOfRow = counts.cumsum(0).sub(counts);
        var at = arange(entries, ScalarType.Int64, device).sub(firstOfRow.index_select(0, rowOf)).add(starts.index_select(0, rowOf));
        return (rowOf, at);
    }
}
