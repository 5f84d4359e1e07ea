using System.Diagnostics;

namespace EdgeQuant.Converter.Quantization;

/// <summary>How the per-channel weight scale is chosen.</summary>
public enum WeightClip
{
    /// <summary>s = max|w| / q.</summary>
    MinMax,
    /// <summary>The clip (from max|w| down to half of it) minimizing the channel's output error (input-variance-weighted squared rounding error).</summary>
    Mse,
}

/// <summary>
/// Turns one linear's float weights [out, in] into symmetric per-output-channel integers and scales: the scale by
/// <see cref="WeightClip"/>, the rounding to nearest or learned by <see cref="AdaRound"/> against the calibration
/// inputs' second moments (block linears only). A time budget for reconstruction is shared by all layers: once it is
/// spent, the remaining layers get proportionally fewer AdaRound iterations.
/// </summary>
public sealed class WeightQuantizer(PtqOptions options, LinearInputGram? gram, long totalReconstructionMacs, Action<string> log)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _macsLeft = totalReconstructionMacs;
    private double _secondsPerMac;

    private readonly Dictionary<string, (sbyte[] Q, float[] Scales)> _done = new(StringComparer.Ordinal);

    /// <summary>
    /// Integers [out, in] in [−qmax, qmax] and one scale per output channel. <paramref name="moments"/> (sequential
    /// reconstruction) replaces the FP32-input statistics; a linear quantized once is returned from then on.
    /// </summary>
    public (sbyte[] Q, float[] Scales) Quantize(string prefix, float[] w, int outDim, int inDim, int qmax, float[]? smooth, InputMoments? moments = null)
    {
        if (_done.TryGetValue(prefix, out var done)) return done;
        var (layer, linear) = BlockLinear(prefix);
        InputMoments? hm = (moments ?? (layer >= 0 && gram != null ? InputMoments.Symmetric(gram.Get(linear, layer)) : null))?.Smoothed(smooth);
        float[]? h = hm?.Hff; // [in, in], the FP32 inputs' moments (clip search)
        var scales = new float[outDim];
        var q = new sbyte[outDim * inDim];
        for (int o = 0; o < outDim; o++)
        {
            ReadOnlySpan<float> row = w.AsSpan(o * inDim, inDim);
            scales[o] = MinMaxScale(row, qmax);
            if (options.WeightClip == WeightClip.Mse && layer >= 0 && AbsMax(row) is float amax and > 0) scales[o] = SearchClip(row, amax, qmax, h, inDim);
            for (int k = 0; k < inDim; k++) q[o * inDim + k] = Nearest(row[k], scales[o], qmax);
        }
        if (options.AdaRound is { } ada && hm != null)
        {
            long macs = (long)outDim * inDim * inDim;
            int iters = ada.Iterations;
            if (options.ReconstructionBudget is double budget)
            {
                if (_secondsPerMac == 0) _secondsPerMac = Probe(w, outDim, inDim, scales, qmax, hm, ada);
                double left = budget - _clock.Elapsed.TotalSeconds;
                iters = (int)Math.Clamp(left / (_secondsPerMac * _macsLeft), 0, ada.Iterations);
                if (iters < ada.Iterations) log($"  {prefix}: time budget: {iters} of {ada.Iterations} AdaRound iterations");
            }
            var sw = Stopwatch.StartNew();
            var r = iters > 0 ? AdaRound.Round(w, outDim, inDim, scales, qmax, hm, ada with { Iterations = iters }, q) : default;
            if (iters > 0) _secondsPerMac = sw.Elapsed.TotalSeconds / ((double)macs * iters);
            _macsLeft -= macs;
            if (iters > 0)
                log($"  AdaRound {prefix} [{outDim}x{inDim}] W{Bits(qmax)}{(moments != null ? ", rounded-model inputs" : "")}: output error {r.LearnedLoss / r.NearestLoss:P1} of nearest rounding, "
                    + $"{r.Flipped} of {q.Length} weights rounded the other way, {r.Undecided} undecided, {sw.Elapsed.TotalSeconds:F1} s");
        }
        _done[prefix] = (q, scales);
        return (q, scales);
    }

    /// <summary>Seconds per multiply-add of AdaRound, timed on a few channels and steps (sizes the first layer's share of a time budget).</summary>
    private static double Probe(float[] w, int outDim, int inDim, float[] scales, int qmax, InputMoments h, AdaRound.Options ada)
    {
        int rows = Math.Min(outDim, 2 * Environment.ProcessorCount);
        const int steps = 5;
        var sw = Stopwatch.StartNew();
        AdaRound.Round(w[..(rows * inDim)], rows, inDim, scales[..rows], qmax, h, ada with { Iterations = steps }, new sbyte[rows * inDim]);
        return Math.Max(1e-15, sw.Elapsed.TotalSeconds / ((double)rows * inDim * inDim * steps));
    }

    private static int Bits(int qmax) => qmax switch { 7 => 4, 63 => 7, _ => 8 };

    /// <summary>The min-max scale of one output channel: max|w| / qmax (1 for an all-zero channel).</summary>
    internal static float MinMaxScale(ReadOnlySpan<float> row, int qmax)
    {
        float amax = AbsMax(row);
        return amax > 0 ? amax / qmax : 1f;
    }

    private static float AbsMax(ReadOnlySpan<float> row)
    {
        float amax = 0;
        foreach (float v in row) amax = MathF.Max(amax, MathF.Abs(v));
        return amax;
    }

    /// <summary>Round to nearest at scale <paramref name="s"/>, clamped to the symmetric range [−qmax, qmax].</summary>
    internal static sbyte Nearest(float w, float s, int qmax) => (sbyte)Math.Clamp(MathF.Round(w / s), -qmax, qmax);

    /// <summary>"blocks.3.fc1" → (3, "fc1"); anything else → (−1, "").</summary>
    internal static (int Layer, string Linear) BlockLinear(string prefix)
    {
        string[] parts = prefix.Split('.');
        return parts.Length == 3 && parts[0] == "blocks" && int.TryParse(parts[1], out int l) ? (l, parts[2]) : (-1, "");
    }

    /// <summary>Clip c in [max/2, max] (100 steps) minimizing Σ_k H_kk (ŵ_k − w_k)², the diagonal part of the output error.</summary>
    private static float SearchClip(ReadOnlySpan<float> row, float amax, int qmax, float[]? h, int n)
    {
        float best = amax / qmax;
        double bestErr = double.MaxValue;
        for (int step = 0; step <= 100; step++)
        {
            float s = amax * (1 - 0.005f * step) / qmax;
            double err = 0;
            for (int k = 0; k < row.Length; k++)
            {
                float d = s * Nearest(row[k], s, qmax) - row[k];
                err += (h == null ? 1 : h[k * n + k]) * d * d;
            }
            if (err < bestErr) (bestErr, best) = (err, s);
        }
        return best;
    }
}
