using System.Buffers.Binary;
using EdgeQuant.Format;
using EdgeQuant.Tests;

namespace EdgeQuant.Engine.Tests;

/// <summary>
/// Files whose checksums are valid but whose contents the scheme cannot mean (#17.2): each must be refused at load,
/// naming what is wrong, instead of giving non-finite or garbage outputs.
/// </summary>
public class HostileFileTests
{
    private static string LoadError(byte[] bytes, bool verify = true) =>
        Assert.Throws<ModelFormatException>(() => Model.Load(bytes, verifyChecksums: verify)).Message;

    private static byte[] Int8() => TestModels.Get("vit_meanpool").Int8;

    [Fact]
    public void NonFiniteAndZeroQuantizationParametersAreRefused()
    {
        byte[] good = Int8();
        using (var m = Model.Load(good)) Assert.True(m.IsQuantized);
        string json;
        using (var f = ModelFile.FromMemory(good)) json = System.Text.Encoding.UTF8.GetString(f.Metadata.ToJson());
        string Field(string name)
        {
            int at = json.IndexOf($"\"{name}\": ", StringComparison.Ordinal);
            int end = json.IndexOfAny([',', '\n', '}'], at + name.Length + 4);
            return json[at..end];
        }
        // 1E+400 parses as +Infinity: a scale the scheme cannot mean.
        Assert.Contains("invalid quantization parameters", LoadError(FileMutation.ReplaceInMetadata(good, Field("qScale"), "\"qScale\": 1E+400")));
        Assert.Contains("invalid quantization parameters", LoadError(FileMutation.ReplaceInMetadata(good, Field("scoreMultiplier"), "\"scoreMultiplier\": 0")));
        Assert.Contains("invalid quantization parameters", LoadError(FileMutation.ReplaceInMetadata(good, Field("actMultiplier"), "\"actMultiplier\": 5")));
        Assert.Contains("must be positive and finite", LoadError(FileMutation.ReplaceInMetadata(good, Field("inputScale"), "\"inputScale\": -1")));
    }

    [Fact]
    public void BadPerChannelRequantizationAndDequantizationAreRefused()
    {
        byte[] good = Int8();
        TensorEntry rq, dq;
        using (var f = ModelFile.FromMemory(good))
        {
            rq = f.Tensors.First(t => t.Name == "blocks.0.qkv.rq");
            dq = f.Tensors.First(t => t.Name == "head.dq");
        }
        var bad = (byte[])good.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan((int)rq.Offset), 0); // multiplier 0 with a normal shift
        Assert.Contains("blocks.0.qkv.rq", LoadError(bad, verify: false));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(bad.AsSpan((int)dq.Offset), 1e38f);
        Assert.Contains("head.dq", LoadError(bad, verify: false));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(bad.AsSpan((int)dq.Offset), float.NaN);
        Assert.Contains("head.dq", LoadError(bad, verify: false));
    }

    [Theory]
    [InlineData("blocks.0.ln1.g", float.NaN)]
    [InlineData("final_ln.b", float.PositiveInfinity)]
    [InlineData("embed.pos", float.NegativeInfinity)]
    [InlineData("head.w", float.NaN)]
    public void NonFiniteFloatWeightsAreRefused(string tensor, float value)
    {
        byte[] good = TestModels.Get("vit_preln_oddheads").Fp32;
        TensorEntry e;
        using (var f = ModelFile.FromMemory(good)) e = f.Tensors.First(t => t.Name == tensor);
        var bad = (byte[])good.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(bad.AsSpan((int)e.Offset + 4), value);
        string msg = LoadError(bad, verify: false);
        Assert.Contains(tensor, msg);
        Assert.Contains("finite", msg);
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        byte[] good = Int8();
        int a, b;
        using (var f = ModelFile.FromMemory(good))
        {
            // Two F32 tensors of one shape: point the second at the first one's bytes (aligned, in bounds, CRC matching).
            var list = f.Tensors.ToList();
            a = list.FindIndex(t => t.Name == "blocks.0.ln1.g");
            b = list.FindIndex(t => t.Name == "blocks.0.ln1.b");
        }
        var bad = (byte[])good.Clone();
        int ea = FileMutation.EntryOffset(bad, a), eb = FileMutation.EntryOffset(bad, b);
        bad.AsSpan(ea + 92, 4).CopyTo(bad.AsSpan(eb + 92)); // CRC of a's data
        bad.AsSpan(ea + 96, 8).CopyTo(bad.AsSpan(eb + 96)); // offset of a's data
        FileMutation.FixTableCrc(bad);
        Assert.Contains("overlaps", LoadError(bad));
    }

    [Fact]
    public void FloatOverflowIsAnErrorAtRunNotAnOutput()
    {
        // Finite weights near the float limit (found by tools/fuzz in a plan model's head constant) pass every load
        // check, yet overflow: the run must refuse to return ±∞/NaN.
        byte[] good = TestModels.Get("vit_preln_oddheads").Fp32;
        TensorEntry e;
        using (var f = ModelFile.FromMemory(good)) e = f.Tensors.First(t => t.Name == "head.w");
        var bad = (byte[])good.Clone();
        for (int i = 0; i < e.Size; i += 4) BinaryPrimitives.WriteSingleLittleEndian(bad.AsSpan((int)e.Offset + i), 3e38f);
        using var m = Model.Load(bad, verifyChecksums: false);
        using var s = m.CreateSession();
        var y = new float[m.OutputLength];
        var ex = Assert.Throws<ModelFormatException>(() => s.Run(TestModels.RandomImage(m, 1), y));
        Assert.Equal(ModelFormatError.NonFiniteOutput, ex.Error);
        Assert.Contains("output[", ex.Message);
    }
}
