using System.Text.Json;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

public class OnnxImportTests(ITestOutputHelper output)
{
    private static float[] RunFp32(FloatEncoder enc, float[] input)
    {
        using var model = Model.Load(enc.ToFp32Writer().ToArray());
        using var s = model.CreateSession();
        var y = new float[model.OutputLength * (input.Length / model.InputLength)];
        s.Run(input, y);
        return y;
    }

    [Fact]
    public void VitMnistFp32MatchesGoldenLogits()
    {
        var enc = OnnxVitImporter.Import(TestPaths.Shared("models/vit-mnist/vit-mnist.onnx"));
        Assert.Equal((4, 64, 4, 128, 17, true), (enc.Config.Layers, enc.Config.Hidden, enc.Config.Heads, enc.Config.MlpDim, enc.Config.SeqLen, enc.Config.NormFirst));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.Shared("models/vit-mnist/golden_first32_logits.json")));
        var golden = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var images = MnistTestImages(0, golden.Length);
        float worst = 0;
        for (int i = 0; i < golden.Length; i++)
        {
            var y = RunFp32(enc, images[i]);
            for (int j = 0; j < 10; j++) worst = Math.Max(worst, Math.Abs(y[j] - golden[i][j]));
        }
        output.WriteLine($"max abs logit diff vs golden: {worst:E3}");
        Assert.True(worst <= 1e-3f, $"max abs diff {worst}");
    }

    internal static float[][] MnistTestImages(int start, int count)
    {
        byte[] b = File.ReadAllBytes(TestPaths.Shared("data/mnist/t10k-images-idx3-ubyte"));
        var r = new float[count][];
        for (int i = 0; i < count; i++)
        {
            r[i] = new float[784];
            for (int j = 0; j < 784; j++) r[i][j] = b[16 + (start + i) * 784 + j] / 255f;
        }
        return r;
    }

    [Theory]
    [InlineData("vit_postln_relu", false, "relu", 3)]
    [InlineData("vit_preln_oddheads", true, "gelu", 4)]
    [InlineData("vit_meanpool", true, "gelu", 2)]
    public void OtherPyTorchExportsMatchTorch(string name, bool preLn, string act, int heads)
    {
        var enc = OnnxVitImporter.Import(TestPaths.Asset(name + ".onnx"));
        Assert.Equal(preLn, enc.Config.NormFirst);
        Assert.Equal(act, enc.Config.Activation);
        Assert.Equal(heads, enc.Config.Heads);
        var (input, logits) = TestPaths.Expected(name + ".expected.json");
        var y = RunFp32(enc, input);
        for (int j = 0; j < logits.Length; j++) Assert.True(Math.Abs(y[j] - logits[j]) <= 1e-4f, $"logit {j}: {y[j]} vs torch {logits[j]}");
    }

    [Theory]
    [InlineData("vit_postln_relu")]
    [InlineData("vit_preln_oddheads")]
    [InlineData("vit_meanpool")]
    public void Int8StaysCloseToFp32OnOtherExports(string name)
    {
        var enc = OnnxVitImporter.Import(TestPaths.Asset(name + ".onnx"));
        var rng = new Random(5);
        var calib = Enumerable.Range(0, 64).Select(_ => Enumerable.Range(0, enc.Image!.Channels * enc.Image.Height * enc.Image.Width).Select(_ => (float)rng.NextDouble()).ToArray()).ToList();
        using var q = Model.Load(EncoderQuantizer.Quantize(enc, calib, new PtqOptions { Calibrator = CalibratorKind.MinMax }).ToArray());
        using var s = q.CreateSession();
        var (input, logits) = TestPaths.Expected(name + ".expected.json");
        var y = new float[logits.Length];
        s.Run(input, y);
        float range = logits.Max() - logits.Min();
        for (int j = 0; j < logits.Length; j++)
            Assert.True(Math.Abs(y[j] - logits[j]) <= 0.1f * range, $"{name} logit {j}: int8 {y[j]} vs fp32 {logits[j]} (range {range})");
    }

    [Fact]
    public void UnknownOpErrorNamesTheNode()
    {
        var e = Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import(TestPaths.Asset("unknown_op.onnx")));
        Assert.Contains("weird_activation", e.Message);
        Assert.Contains("Celu", e.Message);
    }

    [Fact]
    public void GarbageFileIsAClearError()
    {
        string p = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(p, [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2]);
            var e = Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import(p));
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
        finally { File.Delete(p); }
    }
}
