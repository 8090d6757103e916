using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;

namespace MtnnCluster.Data;

/// <summary>
/// Decompresses a gzip file member by member and checks every member's CRC-32 and length trailer.
/// <see cref="GZipStream"/> alone reports a clean end of stream for a file cut short, which would
/// silently drop rows. Problems surface as <see cref="InvalidDataException"/>, as from the decompressor.
/// A member that expands more than <see cref="MaxRatio"/> times its compressed bytes (past <see cref="FreeBytes"/>)
/// is refused with <see cref="GzipBombException"/> (an IOException): a few megabytes of gzip must not become terabytes of rows.
/// </summary>
internal sealed class VerifiedGzipStream : ReadOnlyStream
{
    /// <summary>
    /// Decompressed bytes per compressed byte a member may reach: CSV of SMILES and labels compresses 3–20×, very
    /// sparse wide tables up to ~100×; deflate's own ceiling is ~1032×, which only crafted or degenerate data nears.
    /// </summary>
    public const long MaxRatio = 250;

    /// <summary>What any member may expand to whatever its ratio (64 MiB): small files are never refused.</summary>
    public const long FreeBytes = 64L << 20;

    private long _memberStart, _memberBytes;
    private const int TrailerLength = 8;
    private const byte FlagHeaderCrc = 2, FlagExtra = 4, FlagName = 8, FlagComment = 16;

    private readonly Stream _file;
    private readonly ReadHistoryStream _compressed;
    private DeflateStream? _member;
    private uint _crc;
    private uint _length;
    private int _membersRead;

    /// <param name="file">The whole gzip file, seekable, positioned at its start; this stream owns it.</param>
    public VerifiedGzipStream(Stream file)
    {
        _file = file;
        _compressed = new ReadHistoryStream(file);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        while (_member is not null || StartMember())
        {
            var read = _member.Read(buffer);
            if (read > 0)
            {
                _crc = Crc32.Append(_crc, buffer[..read]);
                _length += (uint)read;
                _memberBytes += read;
                var compressed = Math.Max(1, _file.Position - _memberStart);
                if (_memberBytes > FreeBytes && _memberBytes > MaxRatio * compressed)
                    throw new GzipBombException($"gzip member {_membersRead + 1} (from byte {_memberStart}) expands to more than {_memberBytes} bytes from " +
                                                $"{compressed} compressed, over {MaxRatio}×: refused as a gzip bomb (decompress it yourself if the data is real)");
                return read;
            }
            FinishMember();
        }
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _member?.Dispose();
            _file.Dispose();
        }
        base.Dispose(disposing);
    }

    [MemberNotNullWhen(true, nameof(_member))]
    private bool StartMember()
    {
        if (_file.Position == _file.Length && _membersRead > 0)
            return false;
        _memberStart = _file.Position;
        _memberBytes = 0;
        SkipHeader();
        _compressed.ForgetReads();
        _member = new DeflateStream(_compressed, CompressionMode.Decompress, leaveOpen: true);
        _crc = 0;
        _length = 0;
        return true;
    }

    private void SkipHeader()
    {
        var start = _file.Position;
        Span<byte> header = stackalloc byte[10];
        if (_file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
            throw new InvalidDataException($"the gzip header at byte {start} is cut short");
        if (header[0] != 0x1f || header[1] != 0x8b)
            throw new InvalidDataException($"the bytes at offset {start} are not gzip data");
        if (header[2] != 8)
            throw new InvalidDataException($"compression method {header[2]} at byte {start} is not deflate");

        var flags = header[3];
        if ((flags & FlagExtra) != 0)
            Skip(ReadByteOrThrow() | (ReadByteOrThrow() << 8));
        if ((flags & FlagName) != 0)
            SkipZeroTerminated();
        if ((flags & FlagComment) != 0)
            SkipZeroTerminated();
        if ((flags & FlagHeaderCrc) != 0)
            Skip(2);
    }

    /// <summary>
    /// The deflate data ended somewhere in the last two chunks the decompressor read; its 8-byte
    /// trailer (CRC-32, length mod 2^32) follows. Finding exactly the expected trailer there proves
    /// the member complete and intact, and tells where the next member starts.
    /// </summary>
    private void FinishMember()
    {
        Span<byte> expected = stackalloc byte[TrailerLength];
        BinaryPrimitives.WriteUInt32LittleEndian(expected, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(expected[4..], _length);

        var from = _compressed.EarlierReadStart;
        var window = new byte[Math.Min(_file.Length, _file.Position + TrailerLength) - from];
        _file.Position = from;
        _file.ReadExactly(window);
        var at = window.AsSpan().IndexOf(expected);
        if (at < 0)
            throw new InvalidDataException(
                "the gzip data ends without its matching CRC-32/length trailer");

        _file.Position = from + at + TrailerLength;
        _member!.Dispose();
        _member = null;
        _membersRead++;
    }

    private int ReadByteOrThrow()
    {
        var b = _file.ReadByte();
        return b >= 0 ? b : throw new InvalidDataException("the gzip header is cut short");
    }

    private void Skip(int count)
    {
        for (var i = 0; i < count; i++)
            ReadByteOrThrow();
    }

    private void SkipZeroTerminated()
    {
        while (ReadByteOrThrow() != 0)
        {
        }
    }

    /// <summary>Passes reads through and remembers where the last two of them started.</summary>
    private sealed class ReadHistoryStream(Stream inner) : ReadOnlyStream
    {
        private long _lastReadStart;

        /// <summary>Start of the read before the last one (or of the last, if only one).</summary>
        public long EarlierReadStart { get; private set; }

        public void ForgetReads() => EarlierReadStart = _lastReadStart = inner.Position;

        public override int Read(Span<byte> buffer)
        {
            EarlierReadStart = _lastReadStart;
            _lastReadStart = inner.Position;
            return inner.Read(buffer);
        }
    }
}

/// <summary>A gzip member that expands far more than data does (<see cref="VerifiedGzipStream.MaxRatio"/>).</summary>
internal sealed class GzipBombException(string message) : IOException(message);
