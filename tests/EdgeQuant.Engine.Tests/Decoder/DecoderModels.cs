using System.Text.Json;
using EdgeQuant.Converter.Decoder;
using EdgeQuant.Engine.Decoder;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Format;
using EdgeQuant.Tests;

namespace EdgeQuant.Engine.Tests.Decoder;

/// <summary>The committed tiny decoder folders (tools/testmodels/make_decoder_models.py) as model bytes, with PyTorch's outputs.</summary>
internal static class DecoderModels
{
    public static readonly string[] Names = ["llama", "qwen2", "gpt2"];

    private static readonly Dictionary<string, byte[]> Cache = [];

    public static string Folder(string name) => TestPaths.Asset("decoder/" + name);

    /// <summary>The model converted with <paramref name="weights"/> (f32, s8, s4g) and group size.</summary>
    public static byte[] Get(string name, string weights = Schema.DecoderWeightKinds.F32, int group = 32)
    {
        string key = $"{name}/{weights}/{group}";
        lock (Cache)
        {
            if (Cache.TryGetValue(key, out var v)) return v;
            var dec = HfDecoderImporter.Import(Folder(name));
            v = weights == Schema.DecoderWeightKinds.F32 ? dec.ToFp32Writer().ToArray()
                : DecoderQuantizer.Quantize(dec, new DecoderQuantOptions { Weights = weights, GroupSize = group }).ToArray();
            Cache[key] = v;
            return v;
        }
    }

    /// <summary>expected.json: the prompt, PyTorch's logits after every prompt token, and its greedy continuation.</summary>
    public static (int[] Prompt, float[][] Logits, int[] Greedy) Expected(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder(name), "expected.json")));
        var r = doc.RootElement;
        int[] Ints(string k) => r.GetProperty(k).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var logits = r.GetProperty("logits").EnumerateArray().Select(row => row.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        return (Ints("prompt"), logits, Ints("greedy"));
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> by <paramref name="n"/> tokens.</summary>
    public static int[] Greedy(DecoderSession s, int[] prompt, int n)
    {
        s.Reset();
        s.Feed(prompt);
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            ids[i] = Sampler.ArgMax(s.Logits); // ties to the lower id, as torch.argmax
            if (i + 1 < n) s.Feed(ids[i]);
        }
        return ids;
    }
}
