namespace EdgeQuant.Converter.Onnx;

/// <summary>A dense tensor as the importer sees it: float data, or integer/bool data widened to int64.</summary>
internal sealed class OTensor
{
    public long[] Shape;
    public float[]? F;
    public long[]? L;

    public OTensor(long[] shape, float[] data) { Shape = shape; F = data; }
    public OTensor(long[] shape, long[] data) { Shape = shape; L = data; }

    public bool IsFloat => F != null;
    public int Count => IsFloat ? F!.Length : L!.Length;
    public int Rank => Shape.Length;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public static long Product(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape) n *= d;
        return n;
    }

    /// <summary>Values as float (ints converted).</summary>
    public float[] AsFloat()
    {
        if (F != null) return F;
        var f = new float[L!.Length];
        for (int i = 0; i < f.Length; i++) f[i] = L[i];
        return f;
    }

    /// <summary>Values as int64 (floats truncated).</summary>
    public long[] AsLong()
    {
        if (L != null) return L;
        var l = new long[F!.Length];
        for (int i = 0; i < l.Length; i++) l[i] = (long)F[i];
        return l;
    }
}

/// <summary>An ONNX node attribute (the kinds the importer uses).</summary>
internal sealed class OAttribute
{
    public string Name = "";
    public float F;
    public long I;
    public string S = "";
    public OTensor? T;
    public List<float> Floats = [];
    public List<long> Ints = [];
}

/// <summary>An ONNX node.</summary>
internal sealed class ONode
{
    public string Name = "", OpType = "", Domain = "";
    public List<string> Inputs = [], Outputs = [];
    public Dictionary<string, OAttribute> Attributes = new(StringComparer.Ordinal);

    public string Describe => $"node '{Name}' ({OpType})";

    public long Int(string name, long dflt) => Attributes.TryGetValue(name, out var a) ? a.I : dflt;
    public float Float(string name, float dflt) => Attributes.TryGetValue(name, out var a) ? a.F : dflt;
    public long[]? Ints(string name) => Attributes.TryGetValue(name, out var a) ? a.Ints.ToArray() : null;
    public string Str(string name, string dflt) => Attributes.TryGetValue(name, out var a) ? a.S : dflt;
    public string? In(int i) => i < Inputs.Count && Inputs[i].Length > 0 ? Inputs[i] : null;
}

/// <summary>A graph input/output with its (possibly symbolic, then −1) dims.</summary>
internal sealed record OValueInfo(string Name, long[] Dims);

/// <summary>A parsed ONNX model: nodes in file (topological) order, initializers, inputs, outputs.</summary>
internal sealed class OnnxModel
{
    public List<ONode> Nodes = [];
    public Dictionary<string, OTensor> Initializers = new(StringComparer.Ordinal);
    public List<OValueInfo> Inputs = [], Outputs = [];
    public long Opset;
    public string Producer = "";

    public static OnnxModel Load(string path)
    {
        byte[] bytes;
        try { bytes = Data.InputFiles.ReadAllBytes(path, Data.InputFiles.MaxOnnxBytes, "ONNX model"); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { throw new OnnxImportException($"cannot read '{path}': {e.Message}"); }
        return Parse(bytes);
    }

    public static OnnxModel Parse(ReadOnlySpan<byte> bytes)
    {
        var m = new OnnxModel();
        var r = new ProtoReader(bytes);
        bool sawGraph = false;
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            switch (f)
            {
                case 2 when w == 2: m.Producer = r.ReadString() + m.Producer; break;
                case 3 when w == 2: m.Producer += " " + r.ReadString(); break;
                case 7 when w == 2: ParseGraph(r.ReadBytes(), m); sawGraph = true; break;
                case 8 when w == 2:
                    {
                        var o = new ProtoReader(r.ReadBytes());
                        string domain = "";
                        long version = 0;
                        while (!o.End)
                        {
                            var (of, ow) = o.ReadKey();
                            if (of == 1 && ow == 2) domain = o.ReadString();
                            else if (of == 2 && ow == 0) version = (long)o.ReadVarint();
                            else o.Skip(ow);
                        }
                        if (domain is "" or "ai.onnx") m.Opset = version;
                        break;
                    }
                default: r.Skip(w); break;
            }
        }
        if (!sawGraph) throw new OnnxImportException("not an ONNX model: no graph found");
        CheckSingleAssignment(m);
        return m;
    }

    /// <summary>ONNX graphs are in SSA form: a value produced twice (or shadowing an input or initializer) is an error naming the node.</summary>
    private static void CheckSingleAssignment(OnnxModel m)
    {
        var defined = new HashSet<string>(m.Initializers.Keys, StringComparer.Ordinal);
        foreach (var i in m.Inputs) defined.Add(i.Name);
        foreach (var n in m.Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0 && !defined.Add(o))
                    throw new OnnxImportException($"{n.Describe}: output '{o}' is already defined by an earlier node, a graph input or an initializer (ONNX values are assigned once)");
    }

    private static void ParseGraph(ReadOnlySpan<byte> data, OnnxModel m)
    {
        var r = new ProtoReader(data);
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            switch (f)
            {
                case 1 when w == 2: m.Nodes.Add(ParseNode(r.ReadBytes())); break;
                case 5 when w == 2:
                    {
                        var (name, t) = ParseTensor(r.ReadBytes());
                        m.Initializers[name] = t;
                        break;
                    }
                case 11 when w == 2: m.Inputs.Add(ParseValueInfo(r.ReadBytes())); break;
                case 12 when w == 2: m.Outputs.Add(ParseValueInfo(r.ReadBytes())); break;
                default: r.Skip(w); break;
            }
        }
        // Initializers may be listed as graph inputs in old exports; they are not real inputs.
        m.Inputs.RemoveAll(i => m.Initializers.ContainsKey(i.Name));
    }

    private static ONode ParseNode(ReadOnlySpan<byte> data)
    {
        var n = new ONode();
        var r = new ProtoReader(data);
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            switch (f)
            {
                case 1 when w == 2: n.Inputs.Add(r.ReadString()); break;
                case 2 when w == 2: n.Outputs.Add(r.ReadString()); break;
                case 3 when w == 2: n.Name = r.ReadString(); break;
                case 4 when w == 2: n.OpType = r.ReadString(); break;
                case 5 when w == 2:
                    {
                        var a = ParseAttribute(r.ReadBytes());
                        n.Attributes[a.Name] = a;
                        break;
                    }
                case 7 when w == 2: n.Domain = r.ReadString(); break;
                default: r.Skip(w); break;
            }
        }
        if (n.Name.Length == 0) n.Name = n.Outputs.Count > 0 ? n.Outputs[0] : n.OpType;
        return n;
    }

    private static OAttribute ParseAttribute(ReadOnlySpan<byte> data)
    {
        var a = new OAttribute();
        var r = new ProtoReader(data);
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            switch (f)
            {
                case 1 when w == 2: a.Name = r.ReadString(); break;
                case 2 when w == 5: a.F = BitConverter.UInt32BitsToSingle(r.ReadFixed32()); break;
                case 3 when w == 0: a.I = (long)r.ReadVarint(); break;
                case 4 when w == 2: a.S = r.ReadString(); break;
                case 5 when w == 2: a.T = ParseTensor(r.ReadBytes()).Tensor; break;
                case 7: r.ReadFloats(w, a.Floats); break;
                case 8: r.ReadInt64s(w, a.Ints); break;
                default: r.Skip(w); break;
            }
        }
        return a;
    }

    private static OValueInfo ParseValueInfo(ReadOnlySpan<byte> data)
    {
        string name = "";
        var dims = new List<long>();
        var r = new ProtoReader(data);
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            if (f == 1 && w == 2) name = r.ReadString();
            else if (f == 2 && w == 2)
            {
                var tp = new ProtoReader(r.ReadBytes());               // TypeProto
                while (!tp.End)
                {
                    var (tf, tw) = tp.ReadKey();
                    if (tf != 1 || tw != 2) { tp.Skip(tw); continue; }
                    var tt = new ProtoReader(tp.ReadBytes());          // TypeProto.Tensor
                    while (!tt.End)
                    {
                        var (sf, sw) = tt.ReadKey();
                        if (sf != 2 || sw != 2) { tt.Skip(sw); continue; }
                        var sh = new ProtoReader(tt.ReadBytes());      // TensorShapeProto
                        while (!sh.End)
                        {
                            var (df, dw) = sh.ReadKey();
                            if (df != 1 || dw != 2) { sh.Skip(dw); continue; }
                            var dm = new ProtoReader(sh.ReadBytes());  // Dimension
                            long v = -1;
                            while (!dm.End)
                            {
                                var (xf, xw) = dm.ReadKey();
                                if (xf == 1 && xw == 0) v = (long)dm.ReadVarint();
                                else dm.Skip(xw);
                            }
                            dims.Add(v);
                        }
                    }
                }
            }
            else r.Skip(w);
        }
        return new OValueInfo(name, dims.ToArray());
    }

    internal static (string Name, OTensor Tensor) ParseTensor(ReadOnlySpan<byte> data)
    {
        string name = "";
        var dims = new List<long>();
        int dtype = 0;
        ReadOnlySpan<byte> raw = default;
        var floats = new List<float>();
        var longs = new List<long>();
        var doubles = new List<double>();
        bool external = false;
        var r = new ProtoReader(data);
        while (!r.End)
        {
            var (f, w) = r.ReadKey();
            switch (f)
            {
                case 1: r.ReadInt64s(w, dims); break;
                case 2 when w == 0: dtype = (int)r.ReadVarint(); break;
                case 4: r.ReadFloats(w, floats); break;
                case 5: r.ReadInt64s(w, longs); break;   // int32_data (also int8/uint8/bool/float16 bits)
                case 7: r.ReadInt64s(w, longs); break;   // int64_data
                case 8 when w == 2: name = r.ReadString(); break;
                case 9 when w == 2: raw = r.ReadBytes(); break;
                case 10: r.ReadDoubles(w, doubles); break;
                case 14 when w == 0: external = r.ReadVarint() == 1; break;
                default: r.Skip(w); break;
            }
        }
        if (external) throw new OnnxImportException($"initializer '{name}' uses external data; re-export with the weights inside the .onnx file");
        long[] shape = dims.ToArray();
        long count = 1;
        foreach (long d in shape)
        {
            // Dims come from the file: negative or overflowing products are refused before they size anything.
            if (d < 0) throw new OnnxImportException($"tensor '{name}' has a negative dimension {d}");
            if (d != 0 && count > int.MaxValue / d) throw new OnnxImportException($"tensor '{name}' with shape [{string.Join(", ", shape)}] is too large");
            count *= d;
        }
        int n = (int)count;
        OTensor t = dtype switch
        {
            1 => new OTensor(shape, raw.Length > 0 ? RawFloats(raw, n, name) : Check(floats.ToArray(), n, name)),
            11 => new OTensor(shape, raw.Length > 0 ? RawDoubles(raw, n, name) : Check(doubles.ConvertAll(d => (float)d).ToArray(), n, name)),
            10 or 16 => new OTensor(shape, RawHalf(raw, longs, n, name, dtype == 16)),
            2 or 3 or 4 or 5 or 6 or 7 or 9 or 12 or 13 => new OTensor(shape, raw.Length > 0 ? RawInts(raw, n, dtype, name) : Check(longs.ToArray(), n, name)),
            _ => throw new OnnxImportException($"tensor '{name}' has unsupported ONNX data type {dtype}"),
        };
        return (name, t);
    }

    private static T[] Check<T>(T[] v, int n, string name)
    {
        if (v.Length != n) throw new OnnxImportException($"tensor '{name}' has {v.Length} values, shape needs {n}");
        return v;
    }

    private static float[] RawFloats(ReadOnlySpan<byte> raw, int n, string name)
    {
        if (raw.Length != 4L * n) throw new OnnxImportException($"tensor '{name}' raw data is {raw.Length} bytes, shape needs {4L * n}");
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
        return f;
    }

    private static float[] RawDoubles(ReadOnlySpan<byte> raw, int n, string name)
    {
        if (raw.Length != 8L * n) throw new OnnxImportException($"tensor '{name}' raw data is {raw.Length} bytes, shape needs {8L * n}");
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float)System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
        return f;
    }

    private static float[] RawHalf(ReadOnlySpan<byte> raw, List<long> bits, int n, string name, bool bf16)
    {
        if (raw.Length > 0 ? raw.Length != 2L * n : bits.Count != n)
            throw new OnnxImportException($"tensor '{name}' holds {(raw.Length > 0 ? raw.Length / 2 : bits.Count)} 16-bit values, its shape {n}");
        var f = new float[n];
        for (int i = 0; i < n; i++)
        {
            ushort b = raw.Length > 0 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]) : (ushort)bits[i];
            f[i] = bf16 ? BitConverter.Int32BitsToSingle(b << 16) : (float)BitConverter.UInt16BitsToHalf(b);
        }
        return f;
    }

    private static long[] RawInts(ReadOnlySpan<byte> raw, int n, int dtype, string name)
    {
        int size = dtype switch { 2 or 3 or 9 => 1, 4 or 5 => 2, 6 or 12 => 4, _ => 8 };
        if (raw.Length != (long)n * size) throw new OnnxImportException($"tensor '{name}' raw data is {raw.Length} bytes, shape needs {(long)n * size}");
        var l = new long[n];
        for (int i = 0; i < n; i++)
        {
            var s = raw[(i * size)..];
            l[i] = dtype switch
            {
                2 or 9 => s[0],
                3 => (sbyte)s[0],
                4 => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(s),
                5 => System.Buffers.Binary.BinaryPrimitives.ReadInt16LittleEndian(s),
                6 => System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(s),
                12 => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(s),
                _ => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(s),
            };
        }
        return l;
    }
}
