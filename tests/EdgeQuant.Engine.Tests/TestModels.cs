using EdgeQuant.Converter;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Tests;

namespace EdgeQuant.Engine.Tests;

/// <summary>Small models built from the committed ONNX test assets, FP32 and INT8, as file bytes.</summary>
internal static class TestModels
{
    private static readonly Dictionary<string, (byte[] Fp32, byte[] Int8, FloatEncoder Enc)> Cache = [];

    public static (byte[] Fp32, byte[] Int8, FloatEncoder Enc) Get(string name)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(name, out var v)) return v;
            var enc = OnnxVitImporter.Import(TestPaths.Asset(name + ".onnx"));
            var calib = Enumerable.Range(0, 32).Select(i => RandomImage(enc, i)).ToList();
            v = (enc.ToFp32Writer().ToArray(), EncoderQuantizer.Quantize(enc, calib, new PtqOptions()).ToArray(), enc);
            Cache[name] = v;
            return v;
        }
    }

    public static float[] RandomImage(FloatEncoder enc, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, enc.Image!.Channels * enc.Image.Height * enc.Image.Width).Select(_ => (float)r.NextDouble()).ToArray();
    }

    public static float[] RandomImage(Model m, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, m.InputLength).Select(_ => (float)r.NextDouble()).ToArray();
    }
}
