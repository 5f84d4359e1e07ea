using EdgeQuant.Converter;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Format;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

/// <summary>
/// W4A8 (plain min-max, clip search + AdaRound, mixed precision) and 4-bit attention probabilities (uniform vs log2),
/// measured as output SQNR against FP32.
/// </summary>
public class LowBitTests(ITestOutputHelper output)
{
    private static readonly FloatEncoder Enc = OnnxVitImporter.Import(TestPaths.Asset("vit_preln_oddheads.onnx"));
    private static readonly float[][] Calib = Images(64, 11), Eval = Images(100, 12);
    private static readonly float[] Reference = Run(Enc.ToFp32Writer().ToArray());

    private static float[][] Images(int count, int seed)
    {
        var rng = new Random(seed);
        int n = Enc.Image!.Channels * Enc.Image.Height * Enc.Image.Width;
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
    }

    private static float[] Run(byte[] model)
    {
        using var m = Model.Load(model);
        using var s = m.CreateSession();
        var y = new float[Eval.Length * m.OutputLength];
        for (int i = 0; i < Eval.Length; i++) s.Run(Eval[i], y.AsSpan(i * m.OutputLength, m.OutputLength));
        return y;
    }

    private static (double Sqnr, byte[] File) Quantize(PtqOptions o)
    {
        byte[] file = EncoderQuantizer.Quantize(Enc, Calib, o).ToArray();
        float[] q = Run(file);
        double sig = 0, noise = 0;
        for (int i = 0; i < q.Length; i++) (sig, noise) = (sig + (double)Reference[i] * Reference[i], noise + (double)(Reference[i] - q[i]) * (Reference[i] - q[i]));
        return (10 * Math.Log10(sig / noise), file);
    }

    [Fact]
    public void AdaRoundBeatsNearestRoundingAtFourBits()
    {
        double w8 = Quantize(new PtqOptions()).Sqnr;
        double minmax = Quantize(new PtqOptions { WeightBits = 4 }).Sqnr;
        var log = new List<string>();
        double ada = Quantize(new PtqOptions { WeightBits = 4, WeightClip = WeightClip.Mse, AdaRound = new AdaRound.Options { Iterations = 200 }, Log = log.Add }).Sqnr;
        output.WriteLine($"output SQNR vs FP32: W8A8 {w8:F1} dB, W4A8 min-max {minmax:F1} dB, W4A8 clip search + AdaRound {ada:F1} dB");
        foreach (string l in log.Where(l => l.Contains("AdaRound"))) output.WriteLine(l);
        Assert.True(minmax < w8 - 3, $"4-bit weights should cost plain min-max several dB ({minmax:F1} vs W8 {w8:F1})");
        Assert.True(ada > minmax + 1.5, $"AdaRound should recover at least 1.5 dB over min-max W4 ({ada:F1} vs {minmax:F1})");
        Assert.Contains(log, l => l.Contains("AdaRound blocks.0.qkv"));
    }

    [Fact]
    public void MixedPrecisionMeetsItsBudgetAndHelps()
    {
        var log = new List<string>();
        var (sqnr, file) = Quantize(new PtqOptions { WeightBits = 4, WeightBudgetBits = 6, Log = log.Add });
        double all4 = Quantize(new PtqOptions { WeightBits = 4 }).Sqnr;
        using var f = ModelFile.FromMemory(file);
        long bits = 0, weights = 0;
        foreach (var t in f.Tensors)
        {
            if (!t.Name.StartsWith("blocks.", StringComparison.Ordinal)) continue;
            if (t.Name.EndsWith(".w4", StringComparison.Ordinal)) { long n = (long)t.Dims[0] * Enc.Tensors[t.Name[..^1]].Dims[1]; bits += 4 * n; weights += n; }
            else if (t.Name.EndsWith(".w", StringComparison.Ordinal)) { bits += 8 * t.ElementCount; weights += t.ElementCount; }
        }
        output.WriteLine($"mixed precision budget 6: {(double)bits / weights:F2} bits per weight, SQNR {sqnr:F1} dB (all 4-bit {all4:F1} dB)");
        Assert.InRange((double)bits / weights, 5.0, 6.0);
        Assert.True(sqnr > all4 + 1, $"keeping the most sensitive layers at 8 bits should help ({sqnr:F1} vs {all4:F1} dB)");
        Assert.Throws<ArgumentException>(() => EncoderQuantizer.Quantize(Enc, Calib, new PtqOptions { WeightBits = 8, WeightBudgetBits = 6 }));
    }

    [Fact]
    public void AdaRoundSurvivesWeightsHalfwayBetweenIntegers()
    {
        // w = (k + ½)·s starts every h at exactly ½; with no warm-up the regularizer's |2h − 1|^(β−1) is taken at 0 at once
        const int n = 16;
        float s = 0.25f;
        var w = Enumerable.Range(0, n).Select(k => (k - 8 + 0.5f) * s).ToArray();
        var eye = new float[n * n];
        for (int i = 0; i < n; i++) eye[i * n + i] = 1;
        var q = new sbyte[n];
        var r = AdaRound.Round(w, 1, n, [s], 7, new InputMoments(eye, eye, eye), new AdaRound.Options { Iterations = 20, Warmup = 0 }, q);
        Assert.True(double.IsFinite(r.LearnedLoss) && r.LearnedLoss <= r.NearestLoss, $"{r}");
        for (int j = 0; j < n; j++) Assert.InRange(q[j] * s - w[j], -s, s);
    }

    [Fact]
    public void TimeBudgetShortensReconstruction()
    {
        var log = new List<string>();
        Quantize(new PtqOptions { WeightBits = 4, AdaRound = new AdaRound.Options { Iterations = 100000 }, ReconstructionBudget = 2, Log = log.Add });
        Assert.Contains(log, l => l.Contains("time budget"));
    }

    [Fact]
    public void LogSqrt2AttentionBeatsLog2AtFourBits()
    {
        double u8 = Quantize(new PtqOptions()).Sqnr;
        double u4 = Quantize(new PtqOptions { AttentionProbs = "u4" }).Sqnr;
        double log2 = Quantize(new PtqOptions { AttentionProbs = "log2" }).Sqnr;
        double sqrt2 = Quantize(new PtqOptions { AttentionProbs = "logsqrt2" }).Sqnr;
        output.WriteLine($"output SQNR vs FP32 by attention probabilities: u8 {u8:F1} dB, 4-bit uniform {u4:F1} dB, 4-bit log2 {log2:F1} dB, 4-bit log-sqrt2 {sqrt2:F1} dB");
        Assert.True(sqrt2 > log2 + 3, $"base sqrt2 should fix log2's coarse steps near 1 ({sqrt2:F1} vs {log2:F1} dB)");
        Assert.Throws<ArgumentException>(() => EncoderQuantizer.Quantize(Enc, Calib, new PtqOptions { AttentionProbs = "log3" }));
    }

    [Fact]
    public void SequentialReconstructionPairsInputsAndHelps()
    {
        // With nothing rounded yet, the paired moments of block 0 are the plain second moments of the FP32 inputs.
        var c = Enc.Config;
        var gram = new LinearInputGram(c.Hidden, c.MlpDim);
        var pairs = new SequentialInputs(0, c.Hidden, c.MlpDim);
        using (var m = Model.Load(Enc.ToFp32Writer().ToArray()))
        using (var sg = m.CreateSession(new SessionOptions { Observer = gram }))
        using (var sf = m.CreateSession(new SessionOptions { Observer = pairs.Reference }))
        using (var sq = m.CreateSession(new SessionOptions { Observer = pairs.Rounded }))
        {
            var y = new float[m.OutputLength];
            foreach (var x in Calib.Take(8)) { sg.Run(x, y); sf.Run(x, y); sq.Run(x, y); }
        }
        foreach (string lin in (string[])["qkv", "out", "fc1", "fc2"])
        {
            float[] h = gram.Get(lin, 0);
            var p = pairs.Get(lin);
            for (int i = 0; i < h.Length; i++)
            {
                Assert.Equal(h[i], p.Hqq[i], 1e-5f * (1 + Math.Abs(h[i])));
                Assert.Equal(h[i], p.Hqf[i], 1e-5f * (1 + Math.Abs(h[i])));
                Assert.Equal(h[i], p.Hff[i], 1e-5f * (1 + Math.Abs(h[i])));
            }
        }
        var log = new List<string>();
        double minmax = Quantize(new PtqOptions { WeightBits = 4 }).Sqnr;
        double seq = Quantize(new PtqOptions { WeightBits = 4, AdaRound = new AdaRound.Options { Iterations = 200 }, SequentialReconstruction = true, Log = log.Add }).Sqnr;
        output.WriteLine($"output SQNR vs FP32: W4A8 min-max {minmax:F1} dB, sequential AdaRound {seq:F1} dB");
        Assert.Contains(log, l => l.Contains("AdaRound blocks.2.fc2") && l.Contains("rounded-model inputs"));
        Assert.True(seq > minmax + 1.5, $"sequential AdaRound {seq:F1} dB vs min-max {minmax:F1} dB");
        Assert.Throws<ArgumentException>(() => EncoderQuantizer.Quantize(Enc, Calib, new PtqOptions { WeightBits = 4, SequentialReconstruction = true }));
    }
}
