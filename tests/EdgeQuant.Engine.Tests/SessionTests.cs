using EdgeQuant.Format;

namespace EdgeQuant.Engine.Tests;

public class SessionTests
{
    public static TheoryData<string, bool> Models() => new()
    {
        { "vit_postln_relu", false }, { "vit_postln_relu", true },
        { "vit_preln_oddheads", false }, { "vit_preln_oddheads", true },
        { "vit_meanpool", false }, { "vit_meanpool", true },
    };

    private static Model Load(string name, bool int8)
    {
        var (f, q, _) = TestModels.Get(name);
        return Model.Load(int8 ? q : f);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void RunAllocatesNothingAfterWarmUp(string name, bool int8)
    {
        using var m = Load(name, int8);
        using var s = m.CreateSession();
        float[] x = TestModels.RandomImage(m, 1);
        var y = new float[m.OutputLength];
        var pixels = new byte[m.InputLength];
        s.Run(x, y);
        s.RunPixels(pixels, m.Image!.Height, m.Image.Width, m.Image.Channels, y);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            s.Run(x, y);
            s.RunPixels(pixels, m.Image!.Height, m.Image.Width, m.Image.Channels, y);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void BatchEqualsSingleRuns(string name, bool int8)
    {
        using var m = Load(name, int8);
        using var s = m.CreateSession();
        float[][] xs = [TestModels.RandomImage(m, 1), TestModels.RandomImage(m, 2), TestModels.RandomImage(m, 3)];
        var batch = new float[3 * m.OutputLength];
        s.Run(xs.SelectMany(v => v).ToArray(), batch);
        for (int i = 0; i < 3; i++)
        {
            var y = new float[m.OutputLength];
            s.Run(xs[i], y);
            Assert.Equal(y, batch.AsSpan(i * m.OutputLength, m.OutputLength).ToArray());
        }
    }

    [Theory]
    [InlineData("vit_preln_oddheads", 2)]
    [InlineData("vit_postln_relu", 3)]
    [InlineData("vit_meanpool", 4)]
    public void MultiThreadedSessionsEqualOneThread(string name, int threads)
    {
        using var m = Load(name, int8: true);
        using var one = m.CreateSession();
        using var many = m.CreateSession(new SessionOptions { Threads = threads });
        Assert.Equal(threads, many.Threads);
        var y1 = new float[m.OutputLength];
        var y2 = new float[m.OutputLength];
        for (int seed = 0; seed < 5; seed++)
        {
            var x = TestModels.RandomImage(m, seed);
            one.Run(x, y1);
            many.Run(x, y2);
            Assert.Equal(y1, y2);
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void MultiThreadedRunAllocatesNothing(int weightBits)
    {
        var (_, int8, enc) = TestModels.Get("vit_preln_oddheads");
        var calib = Enumerable.Range(0, 8).Select(i => TestModels.RandomImage(enc, i)).ToList();
        using var m = Model.Load(weightBits == 8 ? int8 : EdgeQuant.Converter.Quantization.EncoderQuantizer.Quantize(enc, calib, new() { WeightBits = 4 }).ToArray());
        using var s = m.CreateSession(new SessionOptions { Threads = 2 });
        var x = TestModels.RandomImage(m, 1);
        var y = new float[m.OutputLength];
        s.Run(x, y);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) s.Run(x, y);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void BadThreadCountIsRejected()
    {
        using var m = Load("vit_meanpool", int8: true);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.CreateSession(new SessionOptions { Threads = 0 }));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SessionsOnManyThreadsShareOneModel(bool int8)
    {
        using var m = Load("vit_preln_oddheads", int8);
        float[] x = TestModels.RandomImage(m, 9);
        var expected = new float[m.OutputLength];
        using (var s = m.CreateSession()) s.Run(x, expected);
        var results = new float[4][];
        Parallel.For(0, 4, i =>
        {
            using var s = m.CreateSession();
            var y = new float[m.OutputLength];
            for (int k = 0; k < 50; k++) s.Run(x, y);
            results[i] = y;
        });
        foreach (var r in results) Assert.Equal(expected, r);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BadInputsAreClearErrors(bool int8)
    {
        using var m = Load("vit_postln_relu", int8); // 3 x 12 x 12
        using var s = m.CreateSession();
        var y = new float[m.OutputLength];
        Assert.Contains("expected a batch", Assert.Throws<ArgumentException>(() => s.Run(new float[m.InputLength - 1], y)).Message);
        Assert.Contains("expected a batch", Assert.Throws<ArgumentException>(() => s.Run([], y)).Message);
        Assert.Contains("output has", Assert.Throws<ArgumentException>(() => s.Run(new float[2 * m.InputLength], y)).Message);
        var x = TestModels.RandomImage(m, 4);
        x[17] = float.NaN;
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => s.Run(x, y)).Message);
        x[17] = float.PositiveInfinity;
        Assert.Contains("index 17", Assert.Throws<ArgumentException>(() => s.Run(x, y)).Message);
        Assert.Contains("expects 12x12 with 3", Assert.Throws<ArgumentException>(() => s.RunPixels(new byte[28 * 28], 28, 28, 1, y)).Message);
        Assert.Contains("3 channel", Assert.Throws<ArgumentException>(() => s.RunPixels(new byte[12 * 12], 12, 12, 1, y)).Message);
        Assert.Contains("bytes", Assert.Throws<ArgumentException>(() => s.RunPixels(new byte[10], 12, 12, 3, y)).Message);
    }

    [Theory]
    [InlineData(8, "u8")]
    [InlineData(7, "u8")]
    [InlineData(4, "u8")]
    [InlineData(8, "log2")]
    [InlineData(8, "u4")]
    [InlineData(8, "logsqrt2")]
    public void EveryKernelPathGivesTheReferenceOutputs(int weightBits, string attentionProbs)
    {
        var (_, _, enc) = TestModels.Get("vit_preln_oddheads");
        var calib = Enumerable.Range(0, 16).Select(i => TestModels.RandomImage(enc, i)).ToList();
        var w = EdgeQuant.Converter.Quantization.EncoderQuantizer.Quantize(enc, calib, new() { WeightBits = weightBits, AttentionProbs = attentionProbs });
        using var m = Model.Load(w.ToArray());
        using var reference = m.CreateSession(new SessionOptions { Kernels = Kernels.KernelTable.Select("reference") });
        var want = new float[m.OutputLength];
        var got = new float[m.OutputLength];
        foreach (string path in Kernels.KernelTable.Available)
            foreach (int threads in new[] { 1, 2 })
            {
                using var s = m.CreateSession(new SessionOptions { Kernels = Kernels.KernelTable.Select(path), Threads = threads });
                for (int seed = 0; seed < 4; seed++)
                {
                    var x = TestModels.RandomImage(m, 100 + seed);
                    reference.Run(x, want);
                    s.Run(x, got);
                    Assert.Equal(want, got);
                }
            }
    }

    [Fact]
    public void FourBitWeightsAreVerifiedAtLoad()
    {
        var (_, _, enc) = TestModels.Get("vit_meanpool");
        var calib = Enumerable.Range(0, 8).Select(i => TestModels.RandomImage(enc, i)).ToList();
        byte[] good = EdgeQuant.Converter.Quantization.EncoderQuantizer.Quantize(enc, calib, new() { WeightBits = 4 }).ToArray();
        TensorEntry w4;
        using (var f = ModelFile.FromMemory(good))
        {
            w4 = f.Tensors.First(t => t.Name == "blocks.0.fc1.w4");
            Assert.Equal(TensorLayout.S4Blocks32, w4.Layout);
            Assert.Equal(TensorDType.S8, f.Tensors.First(t => t.Name == "embed.patch.w").DType); // patch embedding stays 8-bit
            Assert.DoesNotContain(f.Tensors, t => t.Name == "blocks.0.fc1.w");
        }
        using (var m = Model.Load(good)) Assert.Equal(4, m.Metadata.Quant!.WeightBits);
        byte[] bad = (byte[])good.Clone();
        bad[w4.Offset] = (byte)((bad[w4.Offset] & 0xF0) | 0x8); // −8: outside the symmetric range
        var e = Assert.Throws<ModelFormatException>(() => Model.Load(bad, verifyChecksums: false));
        Assert.Contains("blocks.0.fc1.w4", e.Message);
        Assert.Contains("outside [-7, 7]", e.Message);
        bad = (byte[])good.Clone();
        bad[w4.Offset] ^= 0x11; // two weights changed: the stored sums no longer match
        e = Assert.Throws<ModelFormatException>(() => Model.Load(bad, verifyChecksums: false));
        Assert.Contains("blocks.0.fc1", e.Message);
    }

    [Fact]
    public void SevenBitWeightSumsAreVerifiedAtLoad()
    {
        var (_, _, enc) = TestModels.Get("vit_meanpool");
        var calib = Enumerable.Range(0, 8).Select(i => TestModels.RandomImage(enc, i)).ToList();
        byte[] bytes = EdgeQuant.Converter.Quantization.EncoderQuantizer.Quantize(enc, calib, new() { WeightBits = 7 }).ToArray();
        long offset;
        using (var f = ModelFile.FromMemory(bytes)) offset = f.Tensors.First(t => t.Name == "blocks.0.fc1.wsum").Offset;
        bytes[offset] ^= 1;
        var e = Assert.Throws<ModelFormatException>(() => Model.Load(bytes, verifyChecksums: false));
        Assert.Contains("blocks.0.fc1.wsum", e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var (_, _, enc) = TestModels.Get("vit_meanpool");
        var w = new ModelWriter { Metadata = enc.Metadata("fp32", null) };
        foreach (var (n, (d, dims)) in enc.Tensors)
            if (n != "blocks.0.fc1.w") w.Add<float>(n, TensorDType.F32, d, dims);
        var e = Assert.Throws<ModelFormatException>(() => Model.Load(w.ToArray()));
        Assert.Contains("blocks.0.fc1.w", e.Message);
    }

    [Fact]
    public void InconsistentMetadataIsRejected()
    {
        var (_, _, enc) = TestModels.Get("vit_meanpool");
        var w = enc.ToFp32Writer();
        w.Metadata.Encoder = new EncoderConfig { Hidden = 16, Heads = 3, Layers = 1, MlpDim = 32, NumClasses = 3, SeqLen = 4, ClassToken = false, Pooling = "mean" };
        Assert.Contains("divisible", Assert.Throws<ModelFormatException>(() => Model.Load(w.ToArray())).Message);
        var q = Model.Load(TestModels.Get("vit_meanpool").Int8);
        q.Dispose();
        w = enc.ToFp32Writer();
        w.Metadata.Precision = "int8";
        Assert.Contains("quantization parameters", Assert.Throws<ModelFormatException>(() => Model.Load(w.ToArray())).Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ProfileTimesEveryStepWithoutAllocating(bool int8)
    {
        using var m = Load("vit_preln_oddheads", int8);
        using var s = m.CreateSession(new SessionOptions { Profile = true });
        var x = TestModels.RandomImage(m, 1);
        var y = new float[m.OutputLength];
        for (int i = 0; i < 20; i++) s.Run(x, y);
        s.Profile!.Reset();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) s.Run(x, y);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(10, s.Profile.Runs);
        var steps = s.Profile.Steps().Select(t => t.Step).ToList();
        Assert.Contains("stem: patch embedding, tokens, positions", steps);
        for (int b = 0; b < m.Config.Layers; b++)
            foreach (string part in (string[])["QKV GEMM", "attention", "fc1 GEMM", "activation"])
                Assert.Contains($"block {b}: {part}", steps);
        Assert.Contains("head: final norm, pooling, classifier", steps);
        Assert.Contains("total", s.Profile.Format());
        using var plain = m.CreateSession();
        Assert.Null(plain.Profile);
    }

    [Fact]
    public void ASessionUsedFromTwoThreadsAtOnceThrowsInsteadOfCorrupting()
    {
        using var m = Load("vit_meanpool", true);
        using var s = m.CreateSession();
        var x = TestModels.RandomImage(m, 1);
        var expected = new float[m.OutputLength];
        s.Run(x, expected);
        int busy = 0, wrong = 0;
        using var go = new Barrier(2);
        void Hammer()
        {
            var y = new float[m.OutputLength];
            go.SignalAndWait();
            for (int i = 0; i < 3000; i++)
            {
                try
                {
                    s.Run(x, y);
                    if (!y.AsSpan().SequenceEqual(expected)) Interlocked.Increment(ref wrong);
                }
                catch (InvalidOperationException e) when (e.Message.Contains("another thread")) { Interlocked.Increment(ref busy); }
            }
        }
        var t1 = new Thread(Hammer);
        var t2 = new Thread(Hammer);
        t1.Start(); t2.Start();
        t1.Join(); t2.Join();
        Assert.Equal(0, wrong);  // every run that was let in finished with the right bits
        Assert.True(busy > 0, "two threads never overlapped in 6000 runs");
        s.Run(x, expected);      // the session is usable afterwards
    }

    [Fact]
    public void ObserversAreRejectedOnInt8Models()
    {
        using var m = Load("vit_meanpool", true);
        Assert.Throws<ArgumentException>(() => m.CreateSession(new SessionOptions { Observer = new NullObserver() }));
    }

    private sealed class NullObserver : IActivationObserver
    {
        public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values) { }
    }
}
