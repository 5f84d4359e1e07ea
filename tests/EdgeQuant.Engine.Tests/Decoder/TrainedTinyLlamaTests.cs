using System.Text.Json;
using EdgeQuant.Converter.Decoder;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Engine.Decoder;
using EdgeQuant.Format;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Engine.Tests.Decoder;

/// <summary>
/// The byte-level Llama trained on SST-2 sentences (tools/modelzoo/tiny-llama-sst2): perplexity on the 872 held-out
/// validation sentences, FP32 equal to PyTorch's, int8 weights within 1 %, 4-bit groups of 32 within 5 %; and the FP32
/// engine repeats PyTorch's 100-token greedy continuation.
/// </summary>
public class TrainedTinyLlamaTests(ITestOutputHelper output)
{
    private static readonly string Dir = Path.Combine(TestPaths.RepoRoot, "tools", "modelzoo", "tiny-llama-sst2");

    private static double Perplexity(byte[] model, List<int[]> lines, bool kv8 = false)
    {
        using var m = DecoderModel.Load(model);
        using var s = m.CreateSession(new DecoderSessionOptions { ContextLength = 128, KvCacheInt8 = kv8 });
        var (nll, n) = s.NegativeLogLikelihood(lines);
        return Math.Exp(nll / n);
    }

    [Fact]
    public void PerplexityAndGreedyMatchPyTorchAndQuantizationCostsLittle()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "metrics.json")));
        var r = doc.RootElement;
        double want = r.GetProperty("valid_perplexity_fp32_pytorch").GetDouble();
        int[] prompt = [.. r.GetProperty("greedy_prompt").EnumerateArray().Select(e => e.GetInt32())];
        int[] greedy = [.. r.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32())];
        var lines = File.ReadAllLines(Path.Combine(Dir, "valid_ids.txt")).Select(l => l.Split(',').Select(int.Parse).ToArray()).ToList();
        var dec = HfDecoderImporter.Import(Path.Combine(Dir, "hf"));
        byte[] fp32 = dec.ToFp32Writer().ToArray();
        double pf = Perplexity(fp32, lines);
        byte[] w8 = DecoderQuantizer.Quantize(dec, new DecoderQuantOptions()).ToArray();
        double p8 = Perplexity(w8, lines), p8kv = Perplexity(w8, lines, kv8: true), pfkv = Perplexity(fp32, lines, kv8: true);
        double p4 = Perplexity(DecoderQuantizer.Quantize(dec, new DecoderQuantOptions { Weights = Schema.DecoderWeightKinds.S4Group, GroupSize = 32 }).ToArray(), lines);
        string Rel(double p) => $"{p:F4} ({Math.Round(100 * (p / pf - 1), 2).ToString("+0.00;-0.00;0.00", System.Globalization.CultureInfo.InvariantCulture)} %)";
        output.WriteLine($"perplexity: PyTorch FP32 {want:F4}, engine FP32 {pf:F4}, W8 {Rel(p8)}, W4 g32 {Rel(p4)}; int8 KV cache: FP32 {Rel(pfkv)}, W8 {Rel(p8kv)}");
        Assert.True(Math.Abs(pf / want - 1) < 1e-4, $"engine FP32 perplexity {pf} vs PyTorch {want}");
        Assert.True(p8 / pf - 1 < 0.01, $"W8 perplexity {p8} vs FP32 {pf}");
        Assert.True(p4 / pf - 1 < 0.05, $"W4 perplexity {p4} vs FP32 {pf}");
        Assert.True(pfkv / pf - 1 < 0.01, $"int8 KV cache perplexity {pfkv} vs FP32 {pf}");
        using var m = DecoderModel.Load(fp32);
        using var s = m.CreateSession();
        Assert.Equal(greedy, DecoderModels.Greedy(s, prompt, greedy.Length));
    }
}
