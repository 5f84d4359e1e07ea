using EdgeQuant.Kernels.Reference;
using Xunit.Abstractions;

namespace EdgeQuant.Kernels.Tests;

public class FixedPointTests(ITestOutputHelper output)
{
    /// <summary>Max abs error of the u8 fixed-point softmax vs float softmax, for rows up to 512 and |scores| ≤ 16.</summary>
    public const double SoftmaxMaxAbsError = 0.0045;
    /// <summary>Max abs error of i-GELU vs exact GELU over the whole input domain [−32, 32).</summary>
    public const double GeluMaxAbsError = 0.021;

    [Theory]
    [InlineData(0.5, 3, 2)]
    [InlineData(0.5, -3, -1)]   // half rounds up
    [InlineData(0.25, 6, 2)]    // 1.5 → 2
    [InlineData(0.25, -6, -1)]  // -1.5 → -1
    [InlineData(1.0, 12345, 12345)]
    [InlineData(3.0, 1000, 3000)]
    public void RequantizeRoundsHalfUp(double scale, int x, int expected)
    {
        var (m, s) = Requantize.FromScale(scale);
        Assert.Equal(expected, Requantize.Apply(x, m, s));
    }

    [Fact]
    public void RequantizeEncodingIsAccurate()
    {
        var rng = new Random(3);
        for (int i = 0; i < 10000; i++)
        {
            double scale = Math.Exp(rng.NextDouble() * 40 - 20); // ~2^-29 .. 2^29
            var (m, s) = Requantize.FromScale(scale);
            Assert.InRange(m, 1 << 30, int.MaxValue);
            Assert.InRange(s, Requantize.MinShift, Requantize.MaxShift);
            Assert.True(Math.Abs(m * Math.Pow(2, -s) / scale - 1) < 1e-9);
        }
        Assert.Equal((0, Requantize.MaxShift), Requantize.FromScale(1e-12)); // below 2^-31: everything rounds to 0
        Assert.Throws<ArgumentOutOfRangeException>(() => Requantize.FromScale(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Requantize.FromScale(1e10));
        Assert.Throws<ArgumentOutOfRangeException>(() => Requantize.FromScale(double.NaN));
        Assert.Equal(127, Requantize.ToS8(1 << 20, 1 << 30, 30));
        Assert.Equal(-127, Requantize.ToS8(-(1 << 20), 1 << 30, 30));
    }

    [Fact]
    public void SoftmaxErrorBound()
    {
        var rng = new Random(11);
        var (m, s) = Requantize.FromScale(1.0);
        double worst = 0;
        foreach (int n in new[] { 1, 2, 3, 7, 17, 33, 65, 197, 512 })
            for (int trial = 0; trial < 40; trial++)
            {
                double range = trial % 4 == 0 ? 1 : trial % 4 == 1 ? 4 : 16;
                var x = new float[n];
                var acc = new int[n];
                for (int i = 0; i < n; i++)
                {
                    acc[i] = (int)Math.Round((rng.NextDouble() * 2 - 1) * range / SoftmaxFixedPoint.InputScale);
                    x[i] = (float)(acc[i] * SoftmaxFixedPoint.InputScale);
                }
                var p = new byte[n];
                SoftmaxFixedPoint.Row(acc, m, s, new int[n], p);
                FloatReference.Softmax(x);
                for (int i = 0; i < n; i++) worst = Math.Max(worst, Math.Abs(p[i] * SoftmaxFixedPoint.OutputScale - x[i]));
            }
        output.WriteLine($"softmax max abs error {worst:F5}");
        Assert.True(worst <= SoftmaxMaxAbsError, $"softmax error {worst}");
    }

    [Fact]
    public void SoftmaxHandlesExtremesAndOneHot()
    {
        var (m, s) = Requantize.FromScale(1.0);
        var p = new byte[3];
        SoftmaxFixedPoint.Row([int.MaxValue, int.MinValue, 0], m, s, new int[3], p);
        Assert.Equal(new byte[] { 255, 0, 0 }, p);
        SoftmaxFixedPoint.Row([5, 5, 5], m, s, new int[3], p);
        Assert.All(p, v => Assert.InRange(v, 84, 86));
    }

    [Fact]
    public void GeluErrorBound()
    {
        double worst = 0, worstAt = 0;
        for (int q = short.MinValue; q <= short.MaxValue; q++)
        {
            double x = q * GeluFixedPoint.InputScale;
            double err = Math.Abs(GeluFixedPoint.Apply(q) * GeluFixedPoint.OutputScale - FloatReference.Gelu((float)x));
            if (err > worst) (worst, worstAt) = (err, x);
        }
        output.WriteLine($"i-GELU max abs error {worst:F5} at x = {worstAt:F3}");
        Assert.True(worst <= GeluMaxAbsError, $"GELU error {worst} at {worstAt}");
    }

    [Fact]
    public void GeluSaturatesOutsideDomain()
    {
        Assert.Equal(GeluFixedPoint.Apply(short.MaxValue), GeluFixedPoint.Apply(int.MaxValue));
        Assert.Equal(GeluFixedPoint.Apply(short.MinValue), GeluFixedPoint.Apply(int.MinValue));
        Assert.Equal(0, GeluFixedPoint.Apply(0));
    }

    [Fact]
    public void ErfIsAccurate()
    {
        // Reference values of erf.
        Assert.Equal(0.8427007929497149, FloatReference.Erf(1.0), 6);
        Assert.Equal(-0.5204998778130465, FloatReference.Erf(-0.5), 6);
        Assert.Equal(0.9999779095030014, FloatReference.Erf(3.0), 6);
    }
}
