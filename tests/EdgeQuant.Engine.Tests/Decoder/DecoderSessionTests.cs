using EdgeQuant.Engine.Decoder;
using EdgeQuant.Format;
using EdgeQuant.Kernels;
using EdgeQuant.Tests;

namespace EdgeQuant.Engine.Tests.Decoder;

public class DecoderSessionTests
{
    public static TheoryData<string> Names => new(DecoderModels.Names);

    /// <summary>Largest |engine − PyTorch| over a row, relative to the row's largest |logit|.</summary>
    private static double RelativeError(ReadOnlySpan<float> got, float[] want)
    {
        double err = 0, max = 0;
        for (int i = 0; i < want.Length; i++) { err = Math.Max(err, Math.Abs(got[i] - want[i])); max = Math.Max(max, Math.Abs(want[i])); }
        return err / max;
    }

    [Theory, MemberData(nameof(Names))]
    public void Fp32LogitsMatchPyTorch(string name)
    {
        var (prompt, logits, _) = DecoderModels.Expected(name);
        using var m = DecoderModel.Load(DecoderModels.Get(name));
        using var s = m.CreateSession();
        int v = m.Config.VocabSize;
        var all = new float[prompt.Length * v];
        s.Feed(prompt, all);
        for (int t = 0; t < prompt.Length; t++)
            Assert.True(RelativeError(all.AsSpan(t * v, v), logits[t]) <= 1e-4, $"{name} position {t}: {RelativeError(all.AsSpan(t * v, v), logits[t]):E2}");
        Assert.Equal(all.AsSpan((prompt.Length - 1) * v, v).ToArray(), s.Logits.ToArray());
    }

    [Theory, MemberData(nameof(Names))]
    public void Fp32GreedyContinuationEqualsPyTorch(string name)
    {
        var (prompt, _, greedy) = DecoderModels.Expected(name);
        using var m = DecoderModel.Load(DecoderModels.Get(name));
        using var s = m.CreateSession();
        Assert.Equal(greedy, DecoderModels.Greedy(s, prompt, greedy.Length));
    }

    [Theory]
    [InlineData("llama", Schema.DecoderWeightKinds.F32)]
    [InlineData("qwen2", Schema.DecoderWeightKinds.S8Channel)]
    [InlineData("gpt2", Schema.DecoderWeightKinds.S4Group)]
    public void PrefillChunksAndSingleTokensGiveTheSameBits(string name, string weights)
    {
        var (prompt, _, _) = DecoderModels.Expected(name);
        using var m = DecoderModel.Load(DecoderModels.Get(name, weights));
        int v = m.Config.VocabSize;
        float[]? first = null;
        foreach (int chunk in new[] { 1, 4, 32 })
        {
            using var s = m.CreateSession(new DecoderSessionOptions { PrefillChunk = chunk });
            var all = new float[prompt.Length * v];
            s.Feed(prompt, all);
            if (first == null) first = all;
            else Assert.Equal(first, all);
        }
        using var one = m.CreateSession();
        for (int t = 0; t < prompt.Length; t++)
        {
            one.Feed(prompt[t]);
            Assert.Equal(first!.AsSpan(t * v, v).ToArray(), one.Logits.ToArray());
        }
    }

    [Theory]
    [InlineData(Schema.DecoderWeightKinds.S8Channel, 32)]
    [InlineData(Schema.DecoderWeightKinds.S4Group, 32)]
    [InlineData(Schema.DecoderWeightKinds.S4Group, 64)]
    public void EveryKernelPathAndThreadCountGivesTheReferenceBits(string weights, int group)
    {
        foreach (string name in DecoderModels.Names)
        {
            var (prompt, _, _) = DecoderModels.Expected(name);
            using var m = DecoderModel.Load(DecoderModels.Get(name, weights, group));
            using var reference = m.CreateSession(new DecoderSessionOptions { Kernels = KernelTable.Select("reference") });
            var want = DecoderModels.Greedy(reference, prompt, 8);
            var wantLogits = reference.Logits.ToArray();
            foreach (string path in KernelTable.Available)
                foreach (int threads in new[] { 1, 2, 3, 4 })
                {
                    using var s = m.CreateSession(new DecoderSessionOptions { Kernels = KernelTable.Select(path), Threads = threads, MinParallelMacs = 0 });
                    Assert.Equal(want, DecoderModels.Greedy(s, prompt, 8));
                    Assert.Equal(wantLogits, s.Logits.ToArray());
                }
        }
    }

    [Theory]
    [InlineData(Schema.DecoderWeightKinds.S8Channel, 30.0)]
    [InlineData(Schema.DecoderWeightKinds.S4Group, 12.0)]
    public void QuantizedLogitsStayCloseToFp32(string weights, double minSqnrDb)
    {
        foreach (string name in DecoderModels.Names)
        {
            var (prompt, _, _) = DecoderModels.Expected(name);
            using var mf = DecoderModel.Load(DecoderModels.Get(name));
            using var mq = DecoderModel.Load(DecoderModels.Get(name, weights));
            using var sf = mf.CreateSession();
            using var sq = mq.CreateSession();
            int v = mf.Config.VocabSize;
            var f = new float[prompt.Length * v];
            var q = new float[prompt.Length * v];
            sf.Feed(prompt, f);
            sq.Feed(prompt, q);
            double sig = 0, noise = 0;
            for (int i = 0; i < f.Length; i++) { sig += (double)f[i] * f[i]; noise += (double)(f[i] - q[i]) * (f[i] - q[i]); }
            double sqnr = 10 * Math.Log10(sig / noise);
            Assert.True(sqnr >= minSqnrDb, $"{name} {weights}: logits SQNR {sqnr:F1} dB < {minSqnrDb}");
        }
    }

    [Theory]
    [InlineData(Schema.DecoderWeightKinds.F32, 1, false)]
    [InlineData(Schema.DecoderWeightKinds.S8Channel, 1, true)]
    [InlineData(Schema.DecoderWeightKinds.S4Group, 2, false)]
    public void AGeneratedTokenAllocatesNothing(string weights, int threads, bool kv8)
    {
        using var m = DecoderModel.Load(DecoderModels.Get("llama", weights));
        using var s = m.CreateSession(new DecoderSessionOptions { Threads = threads, MinParallelMacs = 0, ContextLength = 128, KvCacheInt8 = kv8 });
        s.Feed([5, 6, 7]);
        int next = 9;
        Assert.Equal(0, Allocations.PerFiveRuns(() =>
        {
            if (s.Position == s.ContextLength) s.Reset();
            s.Feed(next);
            next = Sampler.ArgMax(s.Logits);
        }));
    }

    [Fact]
    public void Int8KvCacheIsCloseAndTheSameOnEveryPath()
    {
        foreach (string name in DecoderModels.Names)
        {
            var (prompt, _, _) = DecoderModels.Expected(name);
            using var m = DecoderModel.Load(DecoderModels.Get(name, Schema.DecoderWeightKinds.S8Channel));
            using var f = m.CreateSession();
            using var reference = m.CreateSession(new DecoderSessionOptions { KvCacheInt8 = true, Kernels = KernelTable.Select("reference") });
            Assert.True(reference.ArenaBytes < f.ArenaBytes);
            int v = m.Config.VocabSize;
            float[] a = new float[prompt.Length * v], b = new float[prompt.Length * v];
            f.Feed(prompt, a);
            reference.Feed(prompt, b);
            double sig = 0, noise = 0;
            for (int i = 0; i < a.Length; i++) { sig += (double)a[i] * a[i]; noise += (double)(a[i] - b[i]) * (a[i] - b[i]); }
            Assert.True(10 * Math.Log10(sig / noise) > 25, $"{name}: int8 KV cache logits SQNR {10 * Math.Log10(sig / noise):F1} dB");
            foreach (string path in KernelTable.Available)
            {
                using var s = m.CreateSession(new DecoderSessionOptions { KvCacheInt8 = true, Kernels = KernelTable.Select(path), Threads = 2, MinParallelMacs = 0 });
                var c = new float[prompt.Length * v];
                s.Feed(prompt, c);
                Assert.Equal(b, c);
            }
        }
    }

    [Fact]
    public void BadIdsAndAFullContextAreClearErrors()
    {
        using var m = DecoderModel.Load(DecoderModels.Get("gpt2"));
        using var s = m.CreateSession(new DecoderSessionOptions { ContextLength = 8 });
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => s.Feed(m.Config.VocabSize)).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => s.Feed(-1)).Message);
        Assert.Throws<ArgumentException>(() => s.Feed(ReadOnlySpan<int>.Empty));
        s.Feed([1, 2, 3, 4, 5, 6]);
        Assert.Contains("context full", Assert.Throws<InvalidOperationException>(() => s.Feed([1, 2, 3])).Message);
        Assert.Equal(6, s.Position);
        s.Reset();
        s.Feed([1, 2, 3]);
        Assert.Contains("learned positions", Assert.Throws<ArgumentOutOfRangeException>(() => m.CreateSession(new DecoderSessionOptions { ContextLength = 65 })).Message);
    }

    [Fact]
    public void EncoderAndDecoderLoadersNameTheOtherOne()
    {
        var dec = DecoderModels.Get("llama");
        Assert.Contains("DecoderModel.Load", Assert.Throws<ModelFormatException>(() => Model.Load(dec)).Message);
        var (fp32, _, _) = TestModels.Get("vit_meanpool");
        Assert.Contains("Model.Load", Assert.Throws<ModelFormatException>(() => DecoderModel.Load(fp32)).Message);
    }
}
