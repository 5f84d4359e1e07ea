using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;

namespace EdgeQuant.Format;

/// <summary>
/// A validated, read-only view of a model file: memory-mapped from disk or copied into aligned native memory.
/// Every header field, table entry, offset and size is checked against the file before use.
/// Immutable and safe to share between threads.
/// </summary>
public sealed unsafe class ModelFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private readonly bool _ownsNative;
    private readonly Dictionary<string, TensorEntry> _byName;

    /// <summary>File length in bytes.</summary>
    public long Length { get; }
    /// <summary>Parsed metadata.</summary>
    public ModelMetadata Metadata { get; }
    /// <summary>Tensor table in file order.</summary>
    public IReadOnlyList<TensorEntry> Tensors { get; }
    /// <summary>Format version from the header.</summary>
    public uint FormatVersion { get; }
    /// <summary>Quantization-scheme version from the header.</summary>
    public uint QuantSchemeVersion { get; }

    private ModelFile(byte* basePtr, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, bool ownsNative, bool verifyData)
    {
        _base = basePtr;
        Length = length;
        _map = map;
        _view = view;
        _ownsNative = ownsNative;
        try
        {
            (FormatVersion, QuantSchemeVersion, Metadata, var tensors) = Parse(new ReadOnlySpan<byte>(basePtr, (int)Math.Min(length, int.MaxValue)), length, verifyData, basePtr);
            Tensors = tensors;
            _byName = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
            foreach (var t in tensors)
                if (!_byName.TryAdd(t.Name, t))
                    throw new ModelFormatException(ModelFormatError.BadTensorEntry, $"tensor name '{t.Name}' appears twice in the table");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Memory-maps and validates the file at <paramref name="path"/>.</summary>
    /// <param name="path">Model file path.</param>
    /// <param name="verifyData">Also check every tensor's CRC-32 (reads all pages once).</param>
    public static ModelFile Open(string path, bool verifyData = true)
    {
        long length = RegularFile.SizeOf(path)
            ?? throw new IOException($"{path} is not a regular file (a device, pipe, socket or directory): a model is read from a file");
        if (length < ModelFileLayout.HeaderSize)
            throw new ModelFormatException(ModelFormatError.Truncated, $"{path}: {length} bytes, smaller than the {ModelFileLayout.HeaderSize}-byte header");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return new ModelFile(p + view.PointerOffset, length, map, view, ownsNative: false, verifyData);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The architecture a model file declares (<see cref="Schema.Architectures"/>), read without checking tensor data,
    /// so a caller can pick the loader (<c>Model</c> or <c>DecoderModel</c>); the loader then validates everything.
    /// </summary>
    public static string PeekArchitecture(string path)
    {
        using var f = Open(path, verifyData: false);
        return f.Metadata.Architecture;
    }

    /// <summary>Copies <paramref name="bytes"/> into 64-byte-aligned native memory and validates it.</summary>
    public static ModelFile FromMemory(ReadOnlySpan<byte> bytes, bool verifyData = true)
    {
        byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes.Length, 1), ModelFileLayout.DataAlignment);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        return new ModelFile(p, bytes.Length, null, null, ownsNative: true, verifyData);
    }

    /// <summary>Looks up a tensor by name.</summary>
    public bool TryGetTensor(string name, out TensorEntry entry) => _byName.TryGetValue(name, out entry!);

    /// <summary>Looks up a tensor and checks dtype and dims; throws <see cref="ModelFormatException"/> naming it otherwise.</summary>
    public TensorEntry Require(string name, TensorDType dtype, params int[] dims)
    {
        if (!_byName.TryGetValue(name, out var e))
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}' is missing from the model file");
        if (e.DType != dtype)
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}' is {e.DType}, expected {dtype}");
        if (!e.Dims.AsSpan().SequenceEqual(dims))
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}' has shape {e.ShapeText}, expected [{string.Join(", ", dims)}]");
        return e;
    }

    /// <summary>Typed read-only view of a tensor's data.</summary>
    public ReadOnlySpan<T> Data<T>(TensorEntry e) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (e.Size % sizeof(T) != 0 || e.Size / sizeof(T) > int.MaxValue)
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{e.Name}' of {e.Size} bytes cannot be viewed as {typeof(T).Name}");
        return new ReadOnlySpan<T>(_base + e.Offset, (int)(e.Size / sizeof(T)));
    }

    /// <summary>Raw pointer to a tensor's data (valid while this object lives).</summary>
    public byte* Pointer(TensorEntry e)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return _base + e.Offset;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_base == null) return;
        if (_ownsNative) NativeMemory.AlignedFree(_base);
        else _view?.SafeMemoryMappedViewHandle.ReleasePointer();
        _base = null;
        _view?.Dispose();
        _map?.Dispose();
    }

    private static (uint, uint, ModelMetadata, TensorEntry[]) Parse(ReadOnlySpan<byte> file, long length, bool verifyData, byte* basePtr)
    {
        static ModelFormatException Err(ModelFormatError e, string m) => new(e, m);
        if (length < ModelFileLayout.HeaderSize)
            throw Err(ModelFormatError.Truncated, $"file is {length} bytes, smaller than the {ModelFileLayout.HeaderSize}-byte header");
        ReadOnlySpan<byte> h = file[..ModelFileLayout.HeaderSize];
        if (!h[..8].SequenceEqual(ModelFileLayout.Magic))
            throw Err(ModelFormatError.BadMagic, "not an EdgeQuant model file (bad magic)");
        uint endian = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        if (endian == BinaryPrimitives.ReverseEndianness(ModelFileLayout.EndianTag))
            throw Err(ModelFormatError.WrongEndianness, "model file is big-endian; this build reads little-endian files");
        if (endian != ModelFileLayout.EndianTag)
            throw Err(ModelFormatError.BadHeader, $"bad endianness tag 0x{endian:X8}");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version < ModelFileLayout.MinReadableFormatVersion || version > ModelFileLayout.FormatVersion)
            throw Err(ModelFormatError.UnsupportedVersion, $"model file format version {version} is not supported (this build reads versions {ModelFileLayout.MinReadableFormatVersion} to {ModelFileLayout.FormatVersion}); convert the model again with this version of edgequant");
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        if (headerSize != ModelFileLayout.HeaderSize)
            throw Err(ModelFormatError.BadHeader, $"header size {headerSize}, expected {ModelFileLayout.HeaderSize}");
        uint qv = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        if (qv != ModelFileLayout.QuantSchemeVersion)
            throw Err(ModelFormatError.UnsupportedVersion, $"quantization-scheme version {qv} is not supported (this build: {ModelFileLayout.QuantSchemeVersion})");
        if (Crc32.Compute(h[..60]) != BinaryPrimitives.ReadUInt32LittleEndian(h[60..]))
            throw Err(ModelFormatError.ChecksumMismatch, "header checksum mismatch: the file is corrupted");
        ulong fileSize = BinaryPrimitives.ReadUInt64LittleEndian(h[24..]);
        if (fileSize > (ulong)length)
            throw Err(ModelFormatError.Truncated, $"file is truncated: header says {fileSize} bytes, file has {length}");
        if (fileSize != (ulong)length)
            throw Err(ModelFormatError.BadHeader, $"header says {fileSize} bytes but the file has {length} (trailing bytes)");

        ulong metaOff = BinaryPrimitives.ReadUInt64LittleEndian(h[32..]);
        uint metaSize = BinaryPrimitives.ReadUInt32LittleEndian(h[40..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(h[44..]);
        ulong tableOff = BinaryPrimitives.ReadUInt64LittleEndian(h[48..]);
        CheckRange("metadata", metaOff, metaSize, length);
        ulong tableSize = (ulong)count * ModelFileLayout.TensorEntrySize;
        CheckRange("tensor table", tableOff, tableSize, length);
        if (metaOff + metaSize > int.MaxValue || tableOff + tableSize > int.MaxValue)
            throw Err(ModelFormatError.OutOfBounds, "metadata and tensor table must lie in the first 2 GiB");
        ReadOnlySpan<byte> meta = file.Slice((int)metaOff, (int)metaSize);
        ReadOnlySpan<byte> table = file.Slice((int)tableOff, (int)tableSize);
        if (Crc32.Append(Crc32.Compute(meta), table) != BinaryPrimitives.ReadUInt32LittleEndian(h[56..]))
            throw Err(ModelFormatError.ChecksumMismatch, "metadata/tensor-table checksum mismatch: the file is corrupted");
        ModelMetadata metadata = ModelMetadata.FromJson(meta);

        var tensors = new TensorEntry[count];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> e = table.Slice(i * ModelFileLayout.TensorEntrySize, ModelFileLayout.TensorEntrySize);
            int nameLen = e[..64].IndexOf((byte)0);
            if (nameLen <= 0)
                throw Err(ModelFormatError.BadTensorEntry, $"tensor #{i}: name is empty or not zero-terminated");
            string name;
            try { name = new UTF8Encoding(false, true).GetString(e[..nameLen]); }
            catch (ArgumentException) { throw Err(ModelFormatError.BadTensorEntry, $"tensor #{i}: name is not valid UTF-8"); }
            var dtype = (TensorDType)e[64];
            if (dtype.ElementSize() == 0) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': unknown dtype {e[64]}");
            var layout = (TensorLayout)e[65];
            if (!Enum.IsDefined(layout)) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': unknown layout {e[65]}");
            int rank = e[66];
            if (rank is 0 or > ModelFileLayout.MaxRank) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': rank {rank} not in 1..{ModelFileLayout.MaxRank}");
            var dims = new int[rank];
            long elems = 1;
            for (int d = 0; d < rank; d++)
            {
                uint v = BinaryPrimitives.ReadUInt32LittleEndian(e[(68 + 4 * d)..]);
                if (v is 0 or > int.MaxValue) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': dim {d} = {v} is invalid");
                dims[d] = (int)v;
                elems *= v;
                if (elems > length) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': dims exceed the file size");
            }
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(e[92..]);
            ulong off = BinaryPrimitives.ReadUInt64LittleEndian(e[96..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(e[104..]);
            if (size != (ulong)(elems * dtype.ElementSize()))
                throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': size {size} does not match dims and dtype ({elems * dtype.ElementSize()} bytes)");
            if (size > int.MaxValue) throw Err(ModelFormatError.BadTensorEntry, $"tensor '{name}': {size} bytes; a tensor is at most 2 GiB − 1 bytes");
            CheckRange($"tensor '{name}'", off, size, length);
            if (off % ModelFileLayout.DataAlignment != 0 || ((nuint)(basePtr + off)) % ModelFileLayout.DataAlignment != 0)
                throw Err(ModelFormatError.Misaligned, $"tensor '{name}': data offset {off} is not {ModelFileLayout.DataAlignment}-byte aligned");
            if (verifyData && Crc32.Compute(new ReadOnlySpan<byte>(basePtr + off, checked((int)size))) != crc)
                throw Err(ModelFormatError.ChecksumMismatch, $"tensor '{name}': data checksum mismatch, the file is corrupted");
            tensors[i] = new TensorEntry(name, dtype, layout, dims, (long)off, (long)size, crc);
        }
        CheckDisjoint(tensors, Math.Max(Math.Max((long)ModelFileLayout.HeaderSize, (long)(metaOff + metaSize)), (long)(tableOff + tableSize)));
        return (version, qv, metadata, tensors);
    }

    /// <summary>
    /// Tensor data lies after the header, metadata and table, and no two tensors share a byte: a crafted offset into
    /// another tensor (or into the metadata) would make one tensor's checks vouch for another's bytes.
    /// </summary>
    private static void CheckDisjoint(TensorEntry[] tensors, long dataStart)
    {
        var order = new int[tensors.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => tensors[a].Offset.CompareTo(tensors[b].Offset));
        long end = dataStart;
        string previous = "the header, metadata and tensor table";
        foreach (int i in order)
        {
            var t = tensors[i];
            if (t.Offset < end)
                throw new ModelFormatException(ModelFormatError.OutOfBounds, $"tensor '{t.Name}': data at offset {t.Offset} overlaps {previous} (which end at {end})");
            end = t.Offset + t.Size;
            previous = $"tensor '{t.Name}'";
        }
    }

    private static void CheckRange(string what, ulong offset, ulong size, long length)
    {
        if (offset > (ulong)length || size > (ulong)length - offset)
            throw new ModelFormatException(ModelFormatError.OutOfBounds, $"{what}: offset {offset} + size {size} is past the end of the {length}-byte file");
    }
}
