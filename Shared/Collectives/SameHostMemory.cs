using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace MtnnCluster.Collectives;

/// <summary>
/// The reductions of a group whose ranks all run on one host, through shared memory instead of their TCP
/// connections (as NCCL and Gloo use shared memory within a node): every rank maps a segment of every rank, writes
/// its own, and reads the chunks it sums or gathers straight from the others'. Over TCP loopback each byte is
/// copied by the kernel twice and the copies run on the cores the ranks compute on; here a chunk is read once.
/// The TCP connections still carry the barriers between the phases, so a lost peer fails the call as before.
/// Each segment has two regions, used by alternate calls: a rank can write region k of call k+2 only after every
/// rank has arrived at call k+1's barrier, so after all have read region k, and a call needs one barrier, not two.
/// <para>
/// Whether the ranks share a host is found out, not assumed: each rank creates a segment under /dev/shm (mode 0600)
/// holding a random token and tells the others its path and token over TCP; the group uses shared memory only if
/// every rank opened every other's segment and found its token (pods of Kubernetes, even on one node, have their
/// own /dev/shm and fall back to TCP). The files are unlinked as soon as all are mapped, so nothing is left behind.
/// </para>
/// </summary>
internal sealed unsafe class SameHostMemory : IDisposable
{
    private const string Directory = "/dev/shm";
    private const string Prefix = "mtnn-collectives-";
    private const int HeaderBytes = 64; // the token, then the floats from a cache line's start
    private const int TokenBytes = 16;

    private readonly MemoryMappedFile[] _files;
    private readonly MemoryMappedViewAccessor[] _views;
    private readonly float*[] _segments;
    private readonly int _rank;

    /// <summary>Floats of one region of a segment.</summary>
    public int Capacity { get; }

    private SameHostMemory(int rank, int capacity, MemoryMappedFile[] files, MemoryMappedViewAccessor[] views)
    {
        (_rank, Capacity, _files, _views) = (rank, capacity, files, views);
        _segments = new float*[views.Length];
        for (var q = 0; q < views.Length; q++)
        {
            byte* pointer = null;
            views[q].SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _segments[q] = (float*)(pointer + views[q].PointerOffset + HeaderBytes);
        }
    }

    /// <summary>
    /// Maps segments of <paramref name="capacity"/> floats for every rank, or returns null when the ranks do not all
    /// share this host. Collective: every rank calls it at the same point; <paramref name="exchange"/> is the
    /// group's all-to-all over TCP (byte strings packed in floats). A rank that does not <paramref name="offer"/>
    /// shared memory still takes part, and the group stays on TCP.
    /// </summary>
    public static SameHostMemory? TryOpen(int rank, int size, int capacity, bool offer, Func<float[][], float[][]> exchange)
    {
        var token = RandomNumberGenerator.GetBytes(TokenBytes);
        var (path, own) = offer ? CreateOwn(capacity, token) : (null, null);
        var files = new MemoryMappedFile?[size];
        var views = new MemoryMappedViewAccessor?[size];
        try
        {
            var announced = exchange(Enumerable.Range(0, size).Select(q => q == rank ? [] : Pack(path is null ? [] : [.. token, .. Encoding.UTF8.GetBytes(path)])).ToArray());
            var opened = own is not null;
            if (opened) (files[rank], views[rank]) = own!.Value;
            for (var q = 0; q < size && opened; q++)
                if (q != rank) opened = TryOpenPeer(Unpack(announced[q]), capacity, out files[q], out views[q]);
            var verdicts = exchange(Enumerable.Range(0, size).Select(q => q == rank ? [] : new[] { opened ? 1f : 0f }).ToArray());
            var everyone = opened && verdicts.Where((_, q) => q != rank).All(v => v is [1f]);
            if (path is not null) File.Delete(path); // every rank has mapped it, or none will
            path = null;
            if (!everyone) return null;
            var memory = new SameHostMemory(rank, capacity, files!, views!);
            (files, views) = ([], []);
            return memory;
        }
        finally
        {
            foreach (var view in views) view?.Dispose();
            foreach (var file in files) file?.Dispose();
            if (path is not null) TryDelete(path);
        }
    }

    /// <summary>Region <paramref name="region"/> (0 or 1) of rank <paramref name="rank"/>'s segment, <paramref name="start"/> on, <paramref name="length"/> floats.</summary>
    public Span<float> Segment(int rank, int region, int start, int length)
    {
        if (start < 0 || length < 0 || start + length > Capacity || region is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(length));
        return new Span<float>(_segments[rank] + (long)region * Capacity + start, length);
    }

    public Span<float> Own(int region, int start, int length) => Segment(_rank, region, start, length);

    public void Dispose()
    {
        foreach (var view in _views)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }
        foreach (var file in _files) file.Dispose();
    }

    private static long Bytes(int capacity) => HeaderBytes + 2L * capacity * sizeof(float);

    /// <summary>This rank's segment: a new file under /dev/shm, its pages allocated now (a full tmpfs fails here, not later with SIGBUS).</summary>
    private static (string? Path, (MemoryMappedFile, MemoryMappedViewAccessor)? Mapped) CreateOwn(int capacity, byte[] token)
    {
        if (!OperatingSystem.IsLinux() || !System.IO.Directory.Exists(Directory)) return (null, null);
        var path = Path.Combine(Directory, Prefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant());
        try
        {
            using (var stream = new FileStream(path, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, PreallocationSize = Bytes(capacity),
                       UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
            {
                stream.SetLength(Bytes(capacity));
                stream.Write(token);
            }
            var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, Bytes(capacity), MemoryMappedFileAccess.ReadWrite);
            return (path, (file, file.CreateViewAccessor(0, Bytes(capacity))));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(path);
            return (null, null);
        }
    }

    private static bool TryOpenPeer(byte[] announced, int capacity, out MemoryMappedFile? file, out MemoryMappedViewAccessor? view)
    {
        (file, view) = (null, null);
        if (announced.Length <= TokenBytes) return false;
        var path = Encoding.UTF8.GetString(announced, TokenBytes, announced.Length - TokenBytes);
        // only a segment as this class makes them: a peer cannot point this rank at another file
        if (Path.GetDirectoryName(path) != Directory || !Path.GetFileName(path).StartsWith(Prefix, StringComparison.Ordinal)) return false;
        try
        {
            if (new FileInfo(path).Length != Bytes(capacity)) return false;
            file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, Bytes(capacity), MemoryMappedFileAccess.ReadWrite);
            view = file.CreateViewAccessor(0, Bytes(capacity));
            var found = new byte[TokenBytes];
            view.ReadArray(0, found, 0, TokenBytes);
            return found.AsSpan().SequenceEqual(announced.AsSpan(0, TokenBytes));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // not this host's file system: TCP it is
        }
    }

    /// <summary>Bytes carried in floats (the group moves floats bit for bit): the length, then the bytes, 4 to a float.</summary>
    private static float[] Pack(byte[] bytes)
    {
        var floats = new float[1 + (bytes.Length + 3) / 4];
        floats[0] = BitConverter.Int32BitsToSingle(bytes.Length);
        bytes.CopyTo(MemoryMarshal.AsBytes(floats.AsSpan(1)));
        return floats;
    }

    private static byte[] Unpack(float[] floats)
    {
        if (floats.Length == 0) return [];
        var length = BitConverter.SingleToInt32Bits(floats[0]);
        var bytes = MemoryMarshal.AsBytes(floats.AsSpan(1));
        return length >= 0 && length <= bytes.Length ? bytes[..length].ToArray() : [];
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }
}
