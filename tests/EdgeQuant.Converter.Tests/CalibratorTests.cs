using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;

namespace EdgeQuant.Converter.Tests;

/// <summary>The histogram calibrators and the attention rank-consistency search on synthetic activations with known answers.</summary>
public class CalibratorTests
{
    private static ActivationStatistics Observe(float[] values)
    {
        var s = new ActivationStatistics();
        s.Observe(ActivationSite.AttnInput, 0, values);
        s.BeginHistogramPass();
        s.Observe(ActivationSite.AttnInput, 0, values);
        return s;
    }

    [Fact]
    public void HistogramCalibratorsClipARareOutlierAndKeepADenseRange()
    {
        var r = new Random(1);
        // Gaussian bulk (σ = 1) and one value at 40: min-max keeps 40, percentile and entropy clip near the bulk; MSE
        // clips too, but less (one clipped value at 40 costs as much squared error as coarser steps for all the others).
        var x = Enumerable.Range(0, 100_000).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()))).ToArray();
        x[123] = 40f;
        var s = Observe(x);
        Assert.Equal(40f, s.ClipValue(ActivationSite.AttnInput, 0, CalibratorKind.MinMax, 0));
        foreach (var kind in new[] { CalibratorKind.Percentile, CalibratorKind.Entropy })
            Assert.InRange(s.ClipValue(ActivationSite.AttnInput, 0, kind, 99.99), 2.5f, 12f);
        Assert.InRange(s.ClipValue(ActivationSite.AttnInput, 0, CalibratorKind.Mse, 0), 12f, 35f);
        // A uniform distribution has no tail to cut: MSE keeps (nearly) the whole range.
        var u = Enumerable.Range(0, 100_000).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        Assert.InRange(Observe(u).ClipValue(ActivationSite.AttnInput, 0, CalibratorKind.Mse, 0), 0.95f, 1.0001f);
    }

    [Fact]
    public void RankSearchKeepsTheRangeOfWellBehavedQueriesAndKeys()
    {
        // Uniform Q and K have nothing worth clipping: every clip loses resolution nowhere and flips score orders,
        // so the search must stay near the full range and never do worse than it.
        var r = new Random(2);
        const int t = 12, d = 8;
        var search = new AttentionScaleSearch(d, 2);
        for (int sample = 0; sample < 4; sample++)
        {
            search.Observe(ActivationSite.Query, 0, Enumerable.Range(0, t * d).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray());
            search.Observe(ActivationSite.Key, 0, Enumerable.Range(0, t * d).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray());
        }
        var (qs, ks, loss, atMax) = search.Search(0, 2f, 2f);
        Assert.True(loss <= atMax);
        Assert.InRange(qs * 127, 1.6f, 2.0001f);
        Assert.InRange(ks * 127, 1.6f, 2.0001f);
    }
}
