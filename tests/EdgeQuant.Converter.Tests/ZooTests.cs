using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Format;
using EdgeQuant.Kernels;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

/// <summary>
/// The variant zoo (tests/assets/zoo, tools/testmodels/make_zoo.py): image transformers with stems, heads and blocks
/// the team did not design. FP32 against PyTorch, W8A8 against FP32, bit-identical int8 on every kernel path, and no
/// allocation per run — through the template where it fits and the plan (stem graph + blocks + head graph) elsewhere.
/// </summary>
public class ZooTests(ITestOutputHelper output)
{
    public static readonly TheoryData<string> Variants =
    [
        "torchvision_vit", "conv_linear_stem", "unfold_meanpool", "distill_token", "sincos_nocls", "sep_qkv_nobias",
        "postln_relu_h40", "maxpool_sigmoid", "embedding_l2", "tenc_preln_gelu", "tenc_postln_relu", "tenc_seqfirst",
        "fashion_conv_linear", "fashion_unfold_meanpool",
    ];

    private static readonly Dictionary<string, FloatEncoder> Imported = [];

    private static FloatEncoder Import(string name)
    {
        lock (Imported)
        {
            if (!Imported.TryGetValue(name, out var enc)) Imported[name] = enc = OnnxVitImporter.Import(TestPaths.Asset(Path.Combine("zoo", name + ".onnx")));
            return enc;
        }
    }

    private static float[] Random01(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)r.NextDouble();
        return x;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Fp32MatchesTorch(string name)
    {
        var enc = Import(name);
        var (input, expected) = TestPaths.Expected(Path.Combine("zoo", name + ".expected.json"));
        using var m = Model.Load(enc.ToFp32Writer().ToArray());
        using var s = m.CreateSession();
        var y = new float[m.OutputLength];
        s.Run(input, y);
        float scale = expected.Max(MathF.Abs), worst = 0;
        for (int j = 0; j < y.Length; j++) worst = Math.Max(worst, Math.Abs(y[j] - expected[j]) / scale);
        output.WriteLine($"{name}: {(m.Plan != null ? "plan" : "template")}, FP32 max relative difference vs PyTorch {worst:E2}");
        Assert.True(worst <= 1e-4f, $"{name}: FP32 max relative difference {worst}");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Int8IsCloseToFp32AndExactOnEveryPath(string name)
    {
        var enc = Import(name);
        int n = enc.Image!.Channels * enc.Image.Height * enc.Image.Width;
        var calib = Enumerable.Range(0, 32).Select(i => Random01(n, i)).ToList();
        // Plan models twice: with the default threshold (these tiny stems stay float) and with every stem/head Linear and Conv in int8.
        foreach (long minMacs in enc.Plan != null ? (long[])[new PtqOptions().PlanInt8MinMacs, 0] : [new PtqOptions().PlanInt8MinMacs])
            Int8CloseAndExact(name + (minMacs == 0 ? " (int8 stem/head)" : ""), enc, calib, new PtqOptions { PlanInt8MinMacs = minMacs }, n);
    }

    /// <summary>The number of int8 stem/head ops (LinearS8, ConvS8) in a converted plan model.</summary>
    private static int Int8GraphOps(Model m) => m.Plan == null ? 0
        : m.Plan.Stem.Ops.Concat(m.Plan.Head.Ops).Count(o => o.Op is OpKinds.LinearS8 or OpKinds.ConvS8);

    private void Int8CloseAndExact(string name, FloatEncoder enc, List<float[]> calib, PtqOptions options, int n)
    {
        using var q = Model.Load(EncoderQuantizer.Quantize(enc, calib, options).ToArray());
        if (options.PlanInt8MinMacs == 0) Assert.True(Int8GraphOps(q) > 0, $"{name}: no stem/head op was quantized");
        using var f = Model.Load(enc.ToFp32Writer().ToArray());
        var inputs = Enumerable.Range(100, 8).Select(i => Random01(n, i)).ToList();
        double signal = 0, noise = 0;
        using (var sf = f.CreateSession())
        using (var sq = q.CreateSession())
        {
            var yf = new float[f.OutputLength];
            var yq = new float[q.OutputLength];
            foreach (var x in inputs)
            {
                sf.Run(x, yf);
                sq.Run(x, yq);
                for (int j = 0; j < yf.Length; j++) { signal += (double)yf[j] * yf[j]; noise += (double)(yf[j] - yq[j]) * (yf[j] - yq[j]); }
            }
        }
        double sqnr = 10 * Math.Log10(signal / Math.Max(noise, 1e-30));
        output.WriteLine($"{name}: W8A8 output SQNR vs FP32 {sqnr:F1} dB{(Int8GraphOps(q) > 0 ? $", {Int8GraphOps(q)} int8 stem/head ops" : "")}");
        Assert.True(sqnr >= 25, $"{name}: W8A8 SQNR {sqnr:F1} dB");

        ExactOnEveryPath(q, s =>
        {
            var all = new float[inputs.Count * q.OutputLength];
            for (int i = 0; i < inputs.Count; i++) s.Run(inputs[i], all.AsSpan(i * q.OutputLength, q.OutputLength));
            var one = new float[q.OutputLength];
            Assert.Equal(0, Allocations.PerFiveRuns(() => s.Run(inputs[0], one)));
            return all;
        });
    }

    /// <summary>Every kernel path at 1 to 4 threads (splitting every step) gives the reference path's bits.</summary>
    private static void ExactOnEveryPath(Model q, Func<Session, float[]> runAll)
    {
        float[]? reference = null;
        foreach (string path in KernelTable.Available)
            foreach (int threads in (int[])[1, 2, 3, 4])
            {
                using var s = q.CreateSession(new SessionOptions { Kernels = KernelTable.Select(path), Threads = threads, MinParallelMacs = threads == 1 ? SessionOptions.DefaultMinParallelMacs : 0 });
                var all = runAll(s);
                reference ??= all;
                Assert.Equal(reference, all);
            }
    }

    [Theory]
    [InlineData("conv_linear_stem")]
    [InlineData("unfold_meanpool")]
    [InlineData("embedding_l2")]
    [InlineData("distill_token")]
    [InlineData("maxpool_sigmoid")]
    public void PlanRunAllocatesNothing(string name)
    {
        var enc = Import(name);
        Assert.NotNull(enc.Plan);
        int n = enc.Image!.Channels * enc.Image.Height * enc.Image.Width;
        var calib = Enumerable.Range(0, 8).Select(i => Random01(n, i)).ToList();
        foreach (var bytes in (byte[][])[enc.ToFp32Writer().ToArray(), EncoderQuantizer.Quantize(enc, calib, new PtqOptions()).ToArray(),
            EncoderQuantizer.Quantize(enc, calib, new PtqOptions { PlanInt8MinMacs = 0 }).ToArray()])
        {
            using var m = Model.Load(bytes);
            using var s = m.CreateSession();
            var x = Random01(n, 1);
            var y = new float[m.OutputLength];
            var pixels = new byte[n];
            Assert.Equal(0, Allocations.PerFiveRuns(() => s.Run(x, y)));
            Assert.Equal(0, Allocations.PerFiveRuns(() => s.RunPixels(pixels, m.Image!.Height, m.Image.Width, m.Image.Channels, y)));
        }
    }

    [Theory]
    [InlineData("fashion_conv_linear")]
    [InlineData("fashion_unfold_meanpool")]
    public void TrainedVariantsKeepTheirAccuracy(string name)
    {
        var (train, _) = Idx.Load($"{Idx.FashionDir}/train-images-idx3-ubyte.gz", $"{Idx.FashionDir}/train-labels-idx1-ubyte.gz");
        var (x, l) = Idx.Load($"{Idx.FashionDir}/t10k-images-idx3-ubyte.gz", $"{Idx.FashionDir}/t10k-labels-idx1-ubyte.gz");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(TestPaths.Asset(Path.Combine("zoo", name + ".expected.json"))));
        double torch = doc.RootElement.GetProperty("fashion_test_top1").GetDouble();
        var enc = Import(name);
        Assert.NotNull(enc.Plan);
        var f = AccuracyTests.Accuracy(enc.ToFp32Writer().ToArray(), x, l, 0, x.Length);
        var q = AccuracyTests.Accuracy(EncoderQuantizer.Quantize(enc, train[..1000], new PtqOptions()).ToArray(), x, l, 0, x.Length);
        var q8 = AccuracyTests.Accuracy(EncoderQuantizer.Quantize(enc, train[..1000], new PtqOptions { PlanInt8MinMacs = 0 }).ToArray(), x, l, 0, x.Length);
        output.WriteLine($"{name}: Fashion-MNIST top-1 PyTorch {torch:F2} %, engine FP32 {f.Correct / 100.0:F2} %, W8A8 {q.Correct / 100.0:F2} %, W8A8 with int8 stem/head {q8.Correct / 100.0:F2} %");
        Assert.True(Math.Abs(f.Correct / 100.0 - torch) <= 0.05, $"FP32 {f.Correct / 100.0} % vs PyTorch {torch} %");
        Assert.True(Math.Abs(q.Correct - f.Correct) <= 50, $"W8A8 {q.Correct} vs FP32 {f.Correct} correct");
        Assert.True(Math.Abs(q8.Correct - f.Correct) <= 50, $"W8A8 int8 stem/head {q8.Correct} vs FP32 {f.Correct} correct");
    }

    public static readonly TheoryData<string> TextVariants = ["text_meanpool_proj_l2", "text_maxpool_classifier"];

    private static string TextModel(string name) => TestPaths.Asset(Path.Combine("zoo", name, "model.onnx"));

    [Theory]
    [MemberData(nameof(TextVariants))]
    public void TextHeadGraphsMatchTorchAndStayExactInInt8(string name)
    {
        var enc = OnnxBertImporter.Import(TextModel(name));
        Assert.Equal("plan", enc.Text!.Head);
        var cases = TextCase.Load(TestPaths.Asset(Path.Combine("zoo", name, "expected.json")));
        using var f = Model.Load(enc.ToFp32Writer().ToArray());
        float Worst(Model m, out double signal, out double noise, List<float[]>? reference)
        {
            using var s = m.CreateSession();
            float worst = 0;
            (signal, noise) = (0, 0);
            int k = 0;
            foreach (var c in cases)
            {
                var y = new float[c.Batch * m.OutputLength];
                s.RunTokens(c.Ids, c.Mask, c.Types, c.Batch, y);
                float scale = c.Output.Max(MathF.Abs);
                for (int j = 0; j < y.Length; j++)
                {
                    float e = reference != null ? reference[k][j] : c.Output[j];
                    worst = Math.Max(worst, Math.Abs(y[j] - e) / scale);
                    (signal, noise) = (signal + (double)e * e, noise + (double)(y[j] - e) * (y[j] - e));
                }
                k++;
            }
            return worst;
        }
        float fp32 = Worst(f, out _, out _, null);
        output.WriteLine($"{name}: FP32 max relative difference vs PyTorch {fp32:E2}");
        Assert.True(fp32 <= 1e-4f, $"{name}: FP32 {fp32}");

        var rng = new Random(4);
        var calib = Enumerable.Range(0, 48).Select(_ => Enumerable.Range(0, 2 + rng.Next(enc.Config.SeqLen - 1)).Select(_ => 5 + rng.Next(enc.Text.VocabSize - 5)).ToArray()).ToList();
        var fpOut = new List<float[]>();
        using (var sf = f.CreateSession())
            foreach (var c in cases)
            {
                var y = new float[c.Batch * f.OutputLength];
                sf.RunTokens(c.Ids, c.Mask, c.Types, c.Batch, y);
                fpOut.Add(y);
            }
        // With the default threshold the tiny head graphs stay float; with 0 their Linear ops run in int8.
        foreach (long minMacs in (long[])[new PtqOptions().PlanInt8MinMacs, 0])
        {
            using var qm = Model.Load(EncoderQuantizer.Quantize(enc, calib, new PtqOptions { PlanInt8MinMacs = minMacs }).ToArray());
            Assert.Equal(minMacs == 0, Int8GraphOps(qm) > 0);
            Worst(qm, out double sig, out double noi, fpOut);
            double sqnr = 10 * Math.Log10(sig / Math.Max(noi, 1e-30));
            output.WriteLine($"{name}: W8A8 output SQNR vs FP32 {sqnr:F1} dB{(Int8GraphOps(qm) > 0 ? $", {Int8GraphOps(qm)} int8 head ops" : "")}");
            Assert.True(sqnr >= 25, $"{name}: W8A8 SQNR {sqnr:F1} dB");
        }
        using var q = Model.Load(EncoderQuantizer.Quantize(enc, calib, new PtqOptions { PlanInt8MinMacs = 0 }).ToArray());

        ExactOnEveryPath(q, s =>
        {
            var all = new List<float>();
            foreach (var c in cases)
            {
                var y = new float[c.Batch * q.OutputLength];
                s.RunTokens(c.Ids, c.Mask, c.Types, c.Batch, y);
                all.AddRange(y);
            }
            var ids = cases[0].Ids.AsSpan(0, cases[0].Ids.Length / cases[0].Batch).ToArray();
            var one = new float[q.OutputLength];
            Assert.Equal(0, Allocations.PerFiveRuns(() => s.RunTokens(ids, default, default, one)));
            return all.ToArray();
        });
        using var s1 = q.CreateSession();
        var tooLong = new int[q.MaxTokens + 1];
        Array.Fill(tooLong, 7);
        var mask = new int[tooLong.Length];
        mask[0] = 1;
        Assert.Contains("head graph takes at most", Assert.Throws<ArgumentException>(() => s1.RunTokens(tooLong, mask, default, new float[q.OutputLength])).Message);
    }

    [Fact]
    public void HostilePlansAreRejectedNamingTheOp()
    {
        var enc = Import("conv_linear_stem");
        string Load(Action<PlanConfig> mutate)
        {
            var w = enc.ToFp32Writer();
            string json = System.Text.Encoding.UTF8.GetString(w.Metadata.ToJson());
            var meta = ModelMetadata.FromJson(System.Text.Encoding.UTF8.GetBytes(json)); // a deep copy to mutate
            mutate(meta.Plan!);
            w.Metadata = meta;
            return Assert.Throws<ModelFormatException>(() => Model.Load(w.ToArray())).Message;
        }
        var ops = enc.Plan!.Stem.Ops;
        int linear = Array.FindIndex(ops, o => o.Op == OpKinds.Linear);
        Assert.Contains($"stem op {linear}", Load(p => p.Stem.Ops[linear].Inputs[0] = 100_000));
        Assert.Contains("not defined before", Load(p => p.Stem.Ops[linear].Inputs[0] = p.Stem.Ops[^1].Output));
        Assert.Contains("should be", Load(p => p.Stem.Values[p.Stem.Ops[linear].Output].Shape = [1, 3, 5]));
        Assert.Contains("unknown op kind", Load(p => p.Head.Ops[0].Op = "Celu"));
        Assert.Contains("elements", Load(p => p.Head.Values[p.Head.Ops[0].Output].Shape = [65536, 65536]));
        Assert.Contains("dimension", Load(p => p.Head.Values[p.Head.Ops[0].Output].Shape = [-1, 4]));
        Assert.Contains("rank", Load(p => p.Stem.Values[0].Shape = [1, 1, 1, 1, 1, 1, 1]));
        Assert.Contains("working memory", Load(p => p.Head.Values = [.. p.Head.Values, .. Enumerable.Range(0, 40).Select(_ => new GraphValue { Name = "big", Shape = [1 << 23] })]));
    }

    [Fact]
    public void UnsupportedStemOpIsNamed()
    {
        // unknown_op.onnx has no transformer block: the plan importer says so instead of guessing.
        var e = Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import(TestPaths.Asset("unknown_op.onnx")));
        Assert.Contains("Celu", e.Message);
    }
}
