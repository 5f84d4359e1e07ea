using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace EdgeQuant.Converter.HuggingFace;

/// <summary>A safetensors file or a sharded set, read into float: F32, F16 and BF16 tensors.</summary>
/// <remarks>
/// File layout: u64 little-endian header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>, then the data;
/// offsets are relative to the end of the header. Every offset and size is checked against the file.
/// A sharded checkpoint has "model.safetensors.index.json" with a "weight_map" of tensor name → shard file.
/// Files are memory-mapped (a 1B-parameter checkpoint is one file of several GB), read-only, until <see cref="Dispose"/>.
/// </remarks>
public sealed unsafe class SafeTensors : IDisposable
{
    private readonly Dictionary<string, (string File, string DType, int[] Shape, long Begin, long End)> _entries = new(StringComparer.Ordinal);
    // Each mapped file with its view's base address (the view's pointer is acquired once, released in Dispose).
    private readonly Dictionary<string, (MemoryMappedFile Map, MemoryMappedViewAccessor View, nint Base)> _files = new(StringComparer.Ordinal);

    /// <summary>Largest JSON header of one file (the safetensors reference implementation's own limit).</summary>
    public const int MaxHeaderBytes = 100 << 20;

    /// <summary>Tensor names.</summary>
    public IEnumerable<string> Names => _entries.Keys;

    /// <summary>Opens "model.safetensors" or the shards named by "model.safetensors.index.json" in <paramref name="dir"/>.</summary>
    public static SafeTensors OpenFolder(string dir)
    {
        var st = new SafeTensors();
        try { st.AddFolder(dir); }
        catch
        {
            st.Dispose();
            throw;
        }
        return st;
    }

    private void AddFolder(string dir)
    {
        var st = this;
        string single = Path.Combine(dir, "model.safetensors"), index = Path.Combine(dir, "model.safetensors.index.json");
        if (File.Exists(single)) st.AddFile(single);
        else if (File.Exists(index))
        {
            using var doc = HfImporter.ParseJsonObject(Data.InputFiles.ReadAllBytes(index, Data.InputFiles.MaxTextBytes, "safetensors index"), index);
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new HfImportException($"{index}: no \"weight_map\" object");
            var shards = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject()) shards.Add(p.Value.GetString() ?? throw new HfImportException($"{index}: weight_map entry '{p.Name}' is not a file name"));
            foreach (string s in shards)
            {
                if (s.Contains('/') || s.Contains('\\')) throw new HfImportException($"{index}: shard name '{s}' must be a file in the folder");
                st.AddFile(Path.Combine(dir, s));
            }
        }
        else throw new HfImportException($"{dir}: neither model.safetensors nor model.safetensors.index.json found (PyTorch .bin checkpoints are not read: re-save with safe_serialization=True)");
    }

    /// <summary>Parses and validates one safetensors file (memory-mapped).</summary>
    public void AddFile(string path)
    {
        string name = Path.GetFileName(path);
        long length;
        try { length = Data.InputFiles.CheckedSize(path, Data.InputFiles.MaxSafeTensorsBytes, "safetensors file"); }
        catch (Exception e) when (e is IOException or InvalidDataException) { throw new HfImportException($"{name}: {e.Message}"); }
        if (length < 8) throw new HfImportException($"{name}: {length} bytes is too short for a safetensors file");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* bytes = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref bytes);
        bytes += view.PointerOffset;
        _files[name] = (map, view, (nint)bytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(bytes, 8));
        if (n > (ulong)length - 8) throw new HfImportException($"{name}: header length {n} exceeds the file ({length} bytes)");
        if (n > MaxHeaderBytes) throw new HfImportException($"{name}: header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        long dataStart = 8 + (long)n, dataLen = length - dataStart;
        using var doc = HfImporter.ParseJsonObject(new ReadOnlySpan<byte>(bytes + 8, (int)n).ToArray(), $"{name}: header");
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var e = p.Value;
            string Bad(string what) => throw new HfImportException($"{name}: tensor '{p.Name}': {what}");
            if (e.ValueKind != JsonValueKind.Object) Bad("entry is not an object");
            string dtype = e.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : Bad("no dtype");
            if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) Bad("no shape");
            var shape = new int[sh.GetArrayLength()];
            long count = 1;
            for (int i = 0; i < shape.Length; i++)
            {
                if (!sh[i].TryGetInt32(out shape[i]) || shape[i] < 0) Bad($"shape entry {i} is not a non-negative int");
                count *= shape[i];
                if (count > 1L << 40) Bad("more than 2^40 elements");
            }
            if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
                || !off[0].TryGetInt64(out long b) || !off[1].TryGetInt64(out long end)) { Bad("data_offsets must be [begin, end]"); return; }
            if (b < 0 || end < b || end > dataLen) Bad($"data_offsets [{b}, {end}] fall outside the {dataLen} data bytes");
            int size = ElementSize(dtype);
            if (size > 0 && (end - b) != count * size) Bad($"{end - b} bytes for shape [{string.Join(", ", shape)}] of {dtype}");
            if (!_entries.TryAdd(p.Name, (name, dtype, shape, dataStart + b, dataStart + end))) Bad("appears in two shards");
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var (map, view, _) in _files.Values)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
        }
        _files.Clear();
    }

    private static int ElementSize(string dtype) => dtype switch
    {
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "F64" or "I64" or "U64" => 8,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    /// <summary>True if the tensor exists.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Shape of a tensor.</summary>
    public int[] Shape(string name) => _entries.TryGetValue(name, out var e) ? e.Shape : throw new HfImportException($"tensor '{name}' is missing");

    /// <summary>
    /// Reads a tensor as float, checking its shape; F32, F16 and BF16 are supported. Throws <see cref="HfImportException"/>
    /// naming the tensor when it is missing, mis-shaped or of another dtype.
    /// </summary>
    public float[] Read(string name, params int[] shape)
    {
        if (!_entries.TryGetValue(name, out var e)) throw new HfImportException($"tensor '{name}' is missing from the checkpoint");
        if (!e.Shape.AsSpan().SequenceEqual(shape))
            throw new HfImportException($"tensor '{name}' has shape [{string.Join(", ", e.Shape)}], expected [{string.Join(", ", shape)}]");
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (count > Array.MaxLength) throw new HfImportException($"tensor '{name}' has {count} elements, more than one array holds");
        int n = (int)count;
        var dst = new float[n];
        var src = new ReadOnlySpan<byte>((byte*)_files[e.File].Base + e.Begin, checked((int)(e.End - e.Begin)));
        switch (e.DType)
        {
            case "F32":
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case "F16":
                for (int i = 0; i < n; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case "BF16":
                for (int i = 0; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            default:
                throw new HfImportException($"tensor '{name}' has dtype {e.DType}; only F32, F16 and BF16 weights are supported");
        }
        for (int i = 0; i < n; i++)
            if (!float.IsFinite(dst[i])) throw new HfImportException($"tensor '{name}' has a non-finite value at index {i}");
        return dst;
    }
}

/// <summary>A Hugging Face folder cannot be imported; the message names the file, key or tensor.</summary>
public sealed class HfImportException(string message) : Exception(message);
