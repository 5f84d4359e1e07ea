using EdgeQuant.Engine;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Self-attention rank consistency (Liu et al., "Post-Training Quantization for Vision Transformer", NeurIPS 2021):
/// the Q and K clip values of each block are searched on calibration samples to minimize the error of the attention
/// probabilities plus a ranking loss that penalizes every pair of scores whose order int8 Q/K would flip:
/// L = Σ_rows ‖softmax(S) − softmax(Ŝ)‖² + γ · mean_pairs max(0, −(S_a − S_b)(Ŝ_a − Ŝ_b)),
/// S = QKᵀ/√dh from FP32 Q, K and Ŝ from their int8 fake-quantized copies.
/// </summary>
public sealed class AttentionScaleSearch : IActivationObserver
{
    private const double Gamma = 0.1;
    private readonly int _heads, _maxSamples;
    private readonly Dictionary<int, List<float[]>> _q = [], _k = []; // block → samples of [T, D]
    private readonly int _hidden;

    /// <summary>Keeps the Q and K of up to <paramref name="maxSamples"/> samples per block.</summary>
    public AttentionScaleSearch(int hidden, int heads, int maxSamples = 16)
    {
        (_hidden, _heads, _maxSamples) = (hidden, heads, maxSamples);
    }

    /// <inheritdoc/>
    public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
    {
        var store = site == ActivationSite.Query ? _q : site == ActivationSite.Key ? _k : null;
        if (store == null) return;
        if (!store.TryGetValue(layer, out var list)) store[layer] = list = [];
        if (list.Count < _maxSamples) list.Add(values.ToArray());
    }

    /// <summary>Searches clip = f·max for Q and K over f ∈ {0.50, 0.55, …, 1.00}; returns the best (QScale, KScale) of a block.</summary>
    public (float QScale, float KScale, double Loss, double LossAtMax) Search(int block, float qMax, float kMax)
    {
        var qs = _q[block];
        var ks = _k[block];
        double best = double.MaxValue, atMax = 0;
        (float, float) bestScales = (qMax / 127f, kMax / 127f);
        // The FP32 scores do not depend on the candidates, and each candidate Q (K) scale fake-quantizes every sample once.
        var exact = new double[qs.Count][];
        for (int s = 0; s < qs.Count; s++) exact[s] = Scores(qs[s], ks[s]);
        float QScale(int a) => qMax * (0.5f + 0.05f * a) / 127f;
        float KScale(int b) => kMax * (0.5f + 0.05f * b) / 127f;
        var kq = new float[11][][];
        for (int b = 0; b <= 10; b++) kq[b] = ks.Select(k => FakeQuant(k, KScale(b))).ToArray();
        for (int a = 0; a <= 10; a++)
        {
            var qq = qs.Select(q => FakeQuant(q, QScale(a))).ToArray();
            for (int b = 0; b <= 10; b++)
            {
                double loss = 0;
                for (int s = 0; s < qs.Count; s++) loss += Loss(exact[s], Scores(qq[s], kq[b][s]), qs[s].Length / _hidden);
                if (a == 10 && b == 10) atMax = loss;
                if (loss < best) (best, bestScales) = (loss, (QScale(a), KScale(b)));
            }
        }
        return (bestScales.Item1, bestScales.Item2, best, atMax);
    }

    /// <summary>Scaled attention scores QKᵀ/√dh of every head: [heads, T, T], summed in double.</summary>
    private double[] Scores(float[] q, float[] k)
    {
        int d = _hidden, t = q.Length / d, dh = d / _heads;
        float inv = 1f / MathF.Sqrt(dh);
        var s = new double[_heads * t * t];
        for (int h = 0; h < _heads; h++)
            for (int r = 0; r < t; r++)
                for (int c = 0; c < t; c++)
                {
                    double a = 0;
                    for (int j = 0; j < dh; j++) a += q[r * d + h * dh + j] * k[c * d + h * dh + j];
                    s[(h * t + r) * t + c] = a * inv;
                }
        return s;
    }

    /// <summary>Σ over the score rows of the softmax distance plus γ · the mean ranking hinge (all pairs up to 64 keys, a strided subset beyond).</summary>
    private static double Loss(double[] exact, double[] approx, int t)
    {
        double loss = 0;
        int step = Math.Max(1, t / 64);
        for (int row = 0; row < exact.Length / t; row++)
        {
            var s = exact.AsSpan(row * t, t);
            var sh = approx.AsSpan(row * t, t);
            loss += SoftmaxDistance(s, sh);
            double rank = 0;
            int pairs = 0;
            for (int x = 0; x < t; x += step)
                for (int y = x + step; y < t; y += step)
                {
                    rank += Math.Max(0, -(s[x] - s[y]) * (sh[x] - sh[y]));
                    pairs++;
                }
            if (pairs > 0) loss += Gamma * rank / pairs;
        }
        return loss;
    }

    private static float[] FakeQuant(float[] x, float scale)
    {
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Math.Clamp(MathF.Round(x[i] / scale), -127f, 127f) * scale;
        return y;
    }

    private static double SoftmaxDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length;
        double ma = double.MinValue, mb = double.MinValue;
        for (int i = 0; i < n; i++) (ma, mb) = (Math.Max(ma, a[i]), Math.Max(mb, b[i]));
        double za = 0, zb = 0;
        for (int i = 0; i < n; i++) (za, zb) = (za + FloatReference.Exp(a[i] - ma), zb + FloatReference.Exp(b[i] - mb));
        double dist = 0;
        for (int i = 0; i < n; i++)
        {
            double e = FloatReference.Exp(a[i] - ma) / za - FloatReference.Exp(b[i] - mb) / zb;
            dist += e * e;
        }
        return dist;
    }
}
