using EdgeQuant.Engine;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Quantization;

/// <summary>How an activation's clipping range is chosen from calibration data.</summary>
public enum CalibratorKind
{
    /// <summary>Largest absolute value seen.</summary>
    MinMax,
    /// <summary>The given percentile of absolute values (histogram of 4096 bins over [0, max]).</summary>
    Percentile,
    /// <summary>The clip value minimizing the expected squared quantization error (rounding inside, clipping outside) over the histogram.</summary>
    Mse,
    /// <summary>TensorRT-style entropy calibration: the clip value minimizing KL(P ‖ Q) between the |x| histogram and its 128-level quantization.</summary>
    Entropy,
}

/// <summary>
/// Collects per-site absolute maxima (pass 1) and histograms of |x| over [0, max] (pass 2, for the histogram
/// calibrators) from the FP32 engine's observer hook; for the sites given per-channel tracking, also per-channel
/// maxima, and values can be divided per channel before they are recorded (SmoothQuant).
/// </summary>
public sealed class ActivationStatistics : IActivationObserver
{
    private const int Bins = 4096;
    private readonly Dictionary<(ActivationSite, int), float> _max = [];
    private readonly Dictionary<(ActivationSite, int), long[]> _hist = [];
    private readonly Dictionary<(ActivationSite, int), float[]> _channelMax = [];
    private readonly Dictionary<(ActivationSite, int), float[]> _divisors = [];
    private readonly int _channels;
    private readonly HashSet<ActivationSite> _perChannelSites;
    private bool _histogramPass;

    /// <summary>Tracks per-channel maxima (channel = index mod <paramref name="channels"/>) at <paramref name="perChannelSites"/>.</summary>
    public ActivationStatistics(int channels = 0, params ActivationSite[] perChannelSites)
    {
        _channels = channels;
        _perChannelSites = [.. perChannelSites];
    }

    /// <summary>Switches from collecting maxima to collecting histograms.</summary>
    public void BeginHistogramPass() => _histogramPass = true;

    /// <summary>Values observed at (site, layer) are divided by <paramref name="divisors"/>[channel] before being recorded.</summary>
    public void SetDivisors(ActivationSite site, int layer, float[] divisors) => _divisors[(site, layer)] = divisors;

    /// <inheritdoc/>
    public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
    {
        var key = (site, layer);
        float[]? div = _divisors.GetValueOrDefault(key);
        if (!_histogramPass)
        {
            float m = _max.GetValueOrDefault(key);
            float[]? cm = null;
            if (_channels > 0 && _perChannelSites.Contains(site) && !_channelMax.TryGetValue(key, out cm)) _channelMax[key] = cm = new float[_channels];
            for (int i = 0; i < values.Length; i++)
            {
                float a = MathF.Abs(div == null ? values[i] : values[i] / div[i % div.Length]);
                m = MathF.Max(m, a);
                if (cm != null) cm[i % _channels] = MathF.Max(cm[i % _channels], a);
            }
            _max[key] = m;
            return;
        }
        float max = _max.GetValueOrDefault(key);
        if (max <= 0) return;
        if (!_hist.TryGetValue(key, out var h)) _hist[key] = h = new long[Bins];
        float k = Bins / max;
        for (int i = 0; i < values.Length; i++)
        {
            float a = MathF.Abs(div == null ? values[i] : values[i] / div[i % div.Length]);
            h[Math.Min((int)(a * k), Bins - 1)]++;
        }
    }

    /// <summary>Largest |x| seen at a site (0 if never observed).</summary>
    public float AbsMax(ActivationSite site, int layer) => _max.GetValueOrDefault((site, layer));

    /// <summary>Per-channel largest |x| at a tracked site.</summary>
    public float[] ChannelAbsMax(ActivationSite site, int layer) =>
        _channelMax.TryGetValue((site, layer), out var c) ? c : throw new InvalidOperationException($"no per-channel statistics for {site} of block {layer}");

    /// <summary>Clipping value for a site under <paramref name="kind"/>; never 0 (a silent site gets a tiny range).</summary>
    public float ClipValue(ActivationSite site, int layer, CalibratorKind kind, double percentile)
    {
        float max = AbsMax(site, layer);
        if (max <= 0) return 1e-6f;
        if (kind == CalibratorKind.MinMax || !_hist.TryGetValue((site, layer), out var h)) return max;
        int bin = kind switch
        {
            CalibratorKind.Percentile => PercentileBin(h, percentile),
            CalibratorKind.Mse => MseBin(h),
            _ => EntropyBin(h),
        };
        return Math.Max(max * bin / Bins, 1e-6f);
    }

    /// <summary>Upper edge (in bins) below which <paramref name="percentile"/> % of the values lie.</summary>
    private static int PercentileBin(long[] h, double percentile)
    {
        long total = 0;
        foreach (long c in h) total += c;
        double target = total * percentile / 100.0;
        long run = 0;
        for (int b = 0; b < Bins; b++)
        {
            run += h[b];
            if (run >= target) return b + 1;
        }
        return Bins;
    }

    /// <summary>
    /// Clip edge minimizing Σ count·err²: a value inside the range costs the uniform rounding error Δ²/12
    /// (Δ = clip/127), one outside costs its clipping error (|x| − clip)², with |x| at its bin's centre.
    /// </summary>
    private static int MseBin(long[] h)
    {
        int best = Bins;
        double bestErr = double.MaxValue;
        for (int c = 16; c <= Bins; c += 8)
        {
            double delta = c / 127.0, err = 0;
            long inside = 0;
            for (int b = 0; b < Bins; b++)
            {
                if (h[b] == 0) continue;
                double centre = b + 0.5;
                if (centre <= c) inside += h[b];
                else err += h[b] * (centre - c) * (centre - c);
            }
            err += inside * delta * delta / 12.0;
            if (err < bestErr) (bestErr, best) = (err, c);
        }
        return best;
    }

    /// <summary>
    /// Entropy calibration on a 2048-bin |x| histogram: for each candidate edge i ≥ 128, P = the first i bins with
    /// the tail folded into the last, Q = P merged into 128 levels and spread back over the non-empty bins; minimizes KL(P ‖ Q).
    /// </summary>
    private static int EntropyBin(long[] h4096)
    {
        const int n = 2048, levels = 128;
        var h = new double[n];
        for (int b = 0; b < Bins; b++) h[b / (Bins / n)] += h4096[b];
        double tailTotal = 0;
        for (int b = 0; b < n; b++) tailTotal += h[b];
        int best = n;
        double bestKl = double.MaxValue;
        var p = new double[n];
        var q = new double[n];
        for (int i = levels; i <= n; i++)
        {
            // P: bins [0, i) with everything beyond folded into bin i-1.
            double below = 0;
            for (int b = 0; b < i; b++) { p[b] = h[b]; below += h[b]; }
            p[i - 1] += tailTotal - below;
            // Q: the first i bins (without the folded tail) merged into 128 levels, each level's mass spread over
            // the bins that are non-empty in P (TensorRT's scheme).
            Array.Clear(q, 0, i);
            double per = (double)i / levels;
            for (int l = 0; l < levels; l++)
            {
                int b0 = (int)Math.Floor(l * per), b1 = l == levels - 1 ? i : (int)Math.Floor((l + 1) * per);
                double mass = 0;
                int nonEmpty = 0;
                for (int b = b0; b < b1; b++) { mass += h[b]; if (p[b] > 0) nonEmpty++; }
                if (nonEmpty == 0) continue;
                for (int b = b0; b < b1; b++) if (p[b] > 0) q[b] = mass / nonEmpty;
            }
            double ps = 0, qs = 0;
            for (int b = 0; b < i; b++) { ps += p[b]; qs += q[b]; }
            if (ps <= 0 || qs <= 0) continue;
            double kl = 0;
            for (int b = 0; b < i; b++)
            {
                if (p[b] <= 0) continue;
                double pp = p[b] / ps, qq = q[b] / qs;
                kl += qq > 0 ? pp * FloatReference.Log(pp / qq) : pp * 20; // an unrepresented bin is heavily penalized
            }
            if (kl < bestKl) (bestKl, best) = (kl, i);
        }
        return best * (Bins / n);
    }
}
