using EdgeQuant.Format;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Decoder;

/// <summary>Weight quantization options of a decoder.</summary>
public sealed class DecoderQuantOptions
{
    /// <summary>Block linears: <see cref="Schema.DecoderWeightKinds.S8Channel"/> or <see cref="Schema.DecoderWeightKinds.S4Group"/>.</summary>
    public string Weights { get; init; } = Schema.DecoderWeightKinds.S8Channel;
    /// <summary>K per scale group of 4-bit weights: 32, 64 or 128.</summary>
    public int GroupSize { get; init; } = 32;
    /// <summary>Search each channel's (group's) clipping range for the least squared error instead of taking max |w|.</summary>
    public bool ClipSearch { get; init; } = true;
}

/// <summary>
/// Weight-only PTQ of a decoder: symmetric per-channel int8, or 4-bit with one scale per channel and group of K. The
/// LM head stays 8-bit (it decides every token); the embedding is int8 per row, which is also the LM head of a tied
/// model. Activations need no calibration: the engine quantizes each token's row at run time.
/// </summary>
public static class DecoderQuantizer
{
    /// <summary>Clipping ratios tried by the search (1 = max |w|).</summary>
    private static readonly float[] ClipGrid = [1f, 0.95f, 0.9f, 0.85f, 0.8f, 0.75f, 0.7f, 0.65f, 0.6f, 0.55f, 0.5f];

    /// <summary>Quantizes <paramref name="dec"/>'s linears; everything else is written as float.</summary>
    public static ModelWriter Quantize(FloatDecoder dec, DecoderQuantOptions o, Action<string>? log = null)
    {
        log ??= _ => { };
        if (!Schema.DecoderWeightKinds.All.Contains(o.Weights) || o.Weights == Schema.DecoderWeightKinds.F32)
            throw new ArgumentException($"decoder weights '{o.Weights}': use {Schema.DecoderWeightKinds.S8Channel} or {Schema.DecoderWeightKinds.S4Group}");
        bool four = o.Weights == Schema.DecoderWeightKinds.S4Group;
        if (four && o.GroupSize is not (32 or 64 or 128)) throw new ArgumentException($"group size {o.GroupSize}: use 32, 64 or 128");
        var c = dec.Config;
        var quant = new DecoderQuantConfig
        {
            Weights = o.Weights, HeadWeights = Schema.DecoderWeightKinds.S8Channel, GroupSize = four ? o.GroupSize : 0,
            Calibrator = o.ClipSearch ? "mse" : "absmax",
        };
        var w = new ModelWriter { Metadata = dec.Metadata(quant) };
        var linears = dec.Linears().ToDictionary(l => l.Prefix + DecoderTensors.FloatWeight, StringComparer.Ordinal);
        int done = 0, total = linears.Count;
        double sqErr = 0, sqRef = 0;
        foreach (var (name, (data, dims)) in dec.Tensors)
        {
            if (name == DecoderTensors.Embedding)
            {
                // int8 rows with a scale each ("embed.word.q" / ".s"): a lookup dequantizes one row; a tied LM head is this linear.
                AddS8(w, DecoderTensors.Embedding, data, c.VocabSize, c.Hidden, o.ClipSearch);
                continue;
            }
            if (!linears.TryGetValue(name, out var l)) { w.Add<float>(name, TensorDType.F32, data, dims); continue; }
            bool head = l.Prefix == DecoderTensors.LmHead;
            var (e, r) = four && !head ? AddS4(w, l.Prefix, data, l.Out, l.In, o.GroupSize, o.ClipSearch) : AddS8(w, l.Prefix, data, l.Out, l.In, o.ClipSearch);
            (sqErr, sqRef) = (sqErr + e, sqRef + r);
            if (++done % 16 == 0 || done == total) log($"quantized {done}/{total} linears");
        }
        log($"weights: {(four ? $"4-bit, groups of {o.GroupSize}" : "int8 per channel")}, LM head int8, weight SQNR {10 * Math.Log10(sqRef / Math.Max(sqErr, 1e-30)):F1} dB");
        return w;
    }

    /// <summary>"P.q" (S8 [out, in]) and "P.s" (F32 [out]); returns (squared error, squared weights).</summary>
    private static (double, double) AddS8(ModelWriter w, string prefix, float[] wf, int outDim, int inDim, bool search)
    {
        var q = new sbyte[(long)outDim * inDim];
        var s = new float[outDim];
        var err = new double[outDim];
        Parallel.For(0, outDim, r =>
        {
            var row = wf.AsSpan((int)((long)r * inDim), inDim);
            (s[r], err[r]) = Fit(row, q.AsSpan((int)((long)r * inDim), inDim), 127, search);
        });
        w.Add<sbyte>(prefix + DecoderTensors.Int8Weight, TensorDType.S8, q, outDim, inDim);
        w.Add<float>(prefix + DecoderTensors.Scales, TensorDType.F32, s, outDim);
        return (err.Sum(), SumSquares(wf));
    }

    /// <summary>"P.q4" (layout S4Panels8, [ceil(out/8), PanelBytes(in)]) and "P.s" (BF16 [ceil(out/8), groups, 8], panel-major like the weights: one stream per panel; padding 0).</summary>
    private static (double, double) AddS4(ModelWriter w, string prefix, float[] wf, int outDim, int inDim, int group, bool search)
    {
        int groups = (inDim + group - 1) / group;
        var q = new sbyte[(long)outDim * inDim];
        var s = new ushort[(long)(outDim + 7) / 8 * groups * 8];
        var err = new double[outDim];
        Parallel.For(0, outDim, r =>
        {
            for (int g = 0; g < groups; g++)
            {
                int k0 = g * group, n = Math.Min(group, inDim - k0);
                (float sc, double e) = Fit(wf.AsSpan((int)((long)r * inDim + k0), n), q.AsSpan((int)((long)r * inDim + k0), n), 7, search, bf16: true);
                s[GemmS4GroupedReference.ScaleIndex(r, g, groups)] = GemmS4GroupedReference.ToBf16(sc); // exact: Fit rounded it
                err[r] += e;
            }
        });
        w.Add(prefix + DecoderTensors.Int4Weight, TensorDType.U8, TensorLayout.S4Panels8, GemmS4GroupedReference.Pack(q, outDim, inDim),
            (outDim + 7) / 8, GemmS4GroupedReference.PanelBytes(inDim));
        w.Add<ushort>(prefix + DecoderTensors.Scales, TensorDType.BF16, s, (outDim + 7) / 8, groups, 8);
        return (err.Sum(), SumSquares(wf));
    }

    /// <summary>
    /// Symmetric quantization of <paramref name="x"/> to [−<paramref name="qmax"/>, qmax]: scale = clip·max|x| / qmax with
    /// the clip ratio of the least squared error (or 1); returns the scale and that error. All-zero rows get scale 0.
    /// With <paramref name="bf16"/> every candidate scale is rounded to bfloat16 first (the stored value), so the
    /// weights and the error are those of the scale the engine will use.
    /// </summary>
    private static (float Scale, double Error) Fit(ReadOnlySpan<float> x, Span<sbyte> q, int qmax, bool search, bool bf16 = false)
    {
        float amax = 0;
        foreach (float v in x) amax = Math.Max(amax, Math.Abs(v));
        if (amax == 0) { q.Clear(); return (0, 0); }
        float best = amax / qmax;
        double bestErr = double.MaxValue;
        foreach (float ratio in search ? ClipGrid : ClipGrid.AsSpan(0, 1))
        {
            float sc = ratio * amax / qmax;
            if (bf16) sc = GemmS4GroupedReference.Bf16(GemmS4GroupedReference.ToBf16(sc));
            double e = 0;
            foreach (float v in x)
            {
                float d = v - sc * Math.Clamp(MathF.Round(v / sc), -qmax, qmax);
                e += (double)d * d;
            }
            if (e < bestErr) (bestErr, best) = (e, sc);
        }
        for (int i = 0; i < x.Length; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(x[i] / best), -qmax, qmax);
        return (best, bestErr);
    }

    private static double SumSquares(float[] x)
    {
        double s = 0;
        foreach (float v in x) s += (double)v * v;
        return s;
    }
}
