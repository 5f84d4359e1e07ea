using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace EdgeQuant.Format;

/// <summary>Collects tensors and metadata and writes a version-1 model file.</summary>
public sealed class ModelWriter
{
    private readonly List<(string Name, TensorDType DType, TensorLayout Layout, int[] Dims, byte[] Data)> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Model-level metadata written as JSON.</summary>
    public ModelMetadata Metadata { get; set; } = new();

    /// <summary>Adds a tensor; <paramref name="data"/> must hold exactly product(dims) elements.</summary>
    public void Add<T>(string name, TensorDType dtype, ReadOnlySpan<T> data, params int[] dims) where T : unmanaged
        => Add(name, dtype, TensorLayout.RowMajor, MemoryMarshal.AsBytes(data), dims);

    /// <summary>Adds a tensor from raw little-endian bytes.</summary>
    public void Add(string name, TensorDType dtype, TensorLayout layout, ReadOnlySpan<byte> bytes, params int[] dims)
    {
        if (Encoding.UTF8.GetByteCount(name) is 0 or > ModelFileLayout.MaxNameBytes)
            throw new ArgumentException($"tensor name '{name}' must be 1..{ModelFileLayout.MaxNameBytes} UTF-8 bytes");
        if (dims.Length is 0 or > ModelFileLayout.MaxRank)
            throw new ArgumentException($"tensor '{name}': rank {dims.Length} not in 1..{ModelFileLayout.MaxRank}");
        long count = 1;
        foreach (int d in dims)
        {
            if (d <= 0) throw new ArgumentException($"tensor '{name}': dim {d} must be positive");
            count *= d;
        }
        if (count * dtype.ElementSize() != bytes.Length)
            throw new ArgumentException($"tensor '{name}': {bytes.Length} bytes but dims [{string.Join(", ", dims)}] x {dtype} need {count * dtype.ElementSize()}");
        if (!_names.Add(name)) throw new ArgumentException($"duplicate tensor name '{name}'");
        _tensors.Add((name, dtype, layout, (int[])dims.Clone(), bytes.ToArray()));
    }

    /// <summary>Writes the file to <paramref name="path"/>.</summary>
    public void Write(string path)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(fs);
    }

    /// <summary>Writes the file as bytes.</summary>
    public byte[] ToArray()
    {
        using var ms = new MemoryStream();
        Write(ms);
        return ms.ToArray();
    }

    /// <summary>Writes the file to a stream.</summary>
    public void Write(Stream output)
    {
        byte[] meta = Metadata.ToJson();
        long metaOffset = ModelFileLayout.HeaderSize;
        long tableOffset = ModelFileLayout.Align(metaOffset + meta.Length);
        long tableSize = (long)_tensors.Count * ModelFileLayout.TensorEntrySize;
        long dataStart = ModelFileLayout.Align(tableOffset + tableSize);

        // Lay out data offsets first so the table can be written before the data.
        var offsets = new long[_tensors.Count];
        long cursor = dataStart;
        for (int i = 0; i < _tensors.Count; i++)
        {
            offsets[i] = cursor;
            cursor = ModelFileLayout.Align(cursor + _tensors[i].Data.Length);
        }
        long fileSize = cursor;

        byte[] table = new byte[tableSize]; // [tensorCount, 128]
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            Span<byte> e = table.AsSpan(i * ModelFileLayout.TensorEntrySize, ModelFileLayout.TensorEntrySize);
            Encoding.UTF8.GetBytes(t.Name, e[..64]);
            e[64] = (byte)t.DType;
            e[65] = (byte)t.Layout;
            e[66] = (byte)t.Dims.Length;
            for (int d = 0; d < t.Dims.Length; d++) BinaryPrimitives.WriteUInt32LittleEndian(e[(68 + 4 * d)..], (uint)t.Dims[d]);
            BinaryPrimitives.WriteUInt32LittleEndian(e[92..], Crc32.Compute(t.Data));
            BinaryPrimitives.WriteUInt64LittleEndian(e[96..], (ulong)offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(e[104..], (ulong)t.Data.Length);
        }

        byte[] header = new byte[ModelFileLayout.HeaderSize];
        Span<byte> h = header;
        ModelFileLayout.Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], ModelFileLayout.FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], ModelFileLayout.HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], ModelFileLayout.EndianTag);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], ModelFileLayout.QuantSchemeVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], (ulong)fileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)metaOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(h[40..], (uint)meta.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[44..], (uint)_tensors.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], (ulong)tableOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(h[56..], Crc32.Append(Crc32.Compute(meta), table));
        BinaryPrimitives.WriteUInt32LittleEndian(h[60..], Crc32.Compute(h[..60]));

        long pos = 0;
        void Put(ReadOnlySpan<byte> bytes, long at)
        {
            if (at > pos) output.Write(new byte[at - pos]);
            output.Write(bytes);
            pos = at + bytes.Length;
        }
        Put(header, 0);
        Put(meta, metaOffset);
        Put(table, tableOffset);
        for (int i = 0; i < _tensors.Count; i++) Put(_tensors[i].Data, offsets[i]);
        if (fileSize > pos) output.Write(new byte[fileSize - pos]);
    }
}
