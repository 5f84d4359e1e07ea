namespace EdgeQuant.Converter.Onnx;

/// <summary>Minimal protobuf wire-format reader (varint, 64-bit, length-delimited, 32-bit), enough for ONNX.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly bool End => _pos >= _data.Length;

    /// <summary>Reads the next field key; returns (field number, wire type).</summary>
    public (int Field, int Wire) ReadKey()
    {
        ulong key = ReadVarint();
        return ((int)(key >> 3), (int)(key & 7));
    }

    public ulong ReadVarint()
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _data.Length) throw new OnnxImportException("ONNX file is truncated (varint)");
            byte b = _data[_pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return v;
        }
        throw new OnnxImportException("ONNX file is malformed (varint too long)");
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong len = ReadVarint();
        if (len > (ulong)(_data.Length - _pos)) throw new OnnxImportException("ONNX file is truncated (length-delimited field)");
        var s = _data.Slice(_pos, (int)len);
        _pos += (int)len;
        return s;
    }

    public string ReadString() => System.Text.Encoding.UTF8.GetString(ReadBytes());

    public uint ReadFixed32()
    {
        if (_data.Length - _pos < 4) throw new OnnxImportException("ONNX file is truncated (fixed32)");
        uint v = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
        _pos += 4;
        return v;
    }

    public ulong ReadFixed64()
    {
        if (_data.Length - _pos < 8) throw new OnnxImportException("ONNX file is truncated (fixed64)");
        ulong v = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
        _pos += 8;
        return v;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: ReadVarint(); break;
            case 1: ReadFixed64(); break;
            case 2: ReadBytes(); break;
            case 5: ReadFixed32(); break;
            default: throw new OnnxImportException($"ONNX file is malformed (wire type {wire})");
        }
    }

    /// <summary>Reads a repeated int64 that may be packed (wire 2) or not (wire 0).</summary>
    public void ReadInt64s(int wire, List<long> into)
    {
        if (wire == 0) { into.Add((long)ReadVarint()); return; }
        var r = new ProtoReader(ReadBytes());
        while (!r.End) into.Add((long)r.ReadVarint());
    }

    /// <summary>Reads a repeated float that may be packed (wire 2) or not (wire 5).</summary>
    public void ReadFloats(int wire, List<float> into)
    {
        if (wire == 5) { into.Add(BitConverter.UInt32BitsToSingle(ReadFixed32())); return; }
        var r = new ProtoReader(ReadBytes());
        while (!r.End) into.Add(BitConverter.UInt32BitsToSingle(r.ReadFixed32()));
    }

    /// <summary>Reads a repeated double that may be packed (wire 2) or not (wire 1).</summary>
    public void ReadDoubles(int wire, List<double> into)
    {
        if (wire == 1) { into.Add(BitConverter.UInt64BitsToDouble(ReadFixed64())); return; }
        var r = new ProtoReader(ReadBytes());
        while (!r.End) into.Add(BitConverter.UInt64BitsToDouble(r.ReadFixed64()));
    }
}

/// <summary>The ONNX file cannot be imported; the message names the node, op or tensor.</summary>
public sealed class OnnxImportException(string message) : Exception(message)
{
    /// <summary>
    /// Runs an import step that loads and runs the imported model (the verification against the graph): a model the
    /// engine refuses — a non-finite initializer, float arithmetic that overflows — is an import error naming the tensor,
    /// not a format error from a file the converter wrote.
    /// </summary>
    internal static void Verifying(Action verify)
    {
        try { verify(); }
        catch (Format.ModelFormatException e) { throw new OnnxImportException($"the imported model cannot run: {e.Message}"); }
    }
}
