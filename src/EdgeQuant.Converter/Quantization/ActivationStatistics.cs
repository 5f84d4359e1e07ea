using EdgeQuant.Engine;

namespace EdgeQuant.Converter.Quantization;

/// <summary>How an activation's clipping range is chosen from calibration data.</summary>
public enum CalibratorKind
{
    /// <summary>Largest absolute value seen.</summary>
    MinMax,
    /// <summary>The given percentile of absolute values (histogram of 4096 bins over [0, max]).</summary>
    Percentile,
}

/// <summary>
/// Collects per-site absolute maxima (pass 1) and histograms of |x| over [0, max] (pass 2, percentile only)
/// from the FP32 engine's observer hook.
/// </summary>
public sealed class ActivationStatistics : IActivationObserver
{
    private const int Bins = 4096;
    private readonly Dictionary<(ActivationSite, int), float> _max = [];
    private readonly Dictionary<(ActivationSite, int), long[]> _hist = [];
    private bool _histogramPass;

    /// <summary>Switches from collecting maxima to collecting histograms.</summary>
    public void BeginHistogramPass() => _histogramPass = true;

    /// <inheritdoc/>
    public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
    {
        var key = (site, layer);
        if (!_histogramPass)
        {
            float m = _max.GetValueOrDefault(key);
            foreach (float v in values) m = MathF.Max(m, MathF.Abs(v));
            _max[key] = m;
            return;
        }
        float max = _max.GetValueOrDefault(key);
        if (max <= 0) return;
        if (!_hist.TryGetValue(key, out var h)) _hist[key] = h = new long[Bins];
        float k = Bins / max;
        foreach (float v in values) h[Math.Min((int)(MathF.Abs(v) * k), Bins - 1)]++;
    }

    /// <summary>Largest |x| seen at a site (0 if never observed).</summary>
    public float AbsMax(ActivationSite site, int layer) => _max.GetValueOrDefault((site, layer));

    /// <summary>Clipping value for a site under <paramref name="kind"/>; never 0 (a silent site gets a tiny range).</summary>
    public float ClipValue(ActivationSite site, int layer, CalibratorKind kind, double percentile)
    {
        float max = AbsMax(site, layer);
        if (max <= 0) return 1e-6f;
        if (kind == CalibratorKind.MinMax || !_hist.TryGetValue((site, layer), out var h)) return max;
        long total = 0;
        foreach (long c in h) total += c;
        double target = total * percentile / 100.0;
        long run = 0;
        for (int b = 0; b < Bins; b++)
        {
            run += h[b];
            if (run >= target) return Math.Max(max * (b + 1) / Bins, 1e-6f);
        }
        return max;
    }
}
