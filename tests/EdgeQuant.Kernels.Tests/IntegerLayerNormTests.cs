using EdgeQuant.Kernels.Reference;
using Xunit.Abstractions;

namespace EdgeQuant.Kernels.Tests;

/// <summary>The integer-only profile's LayerNorm: exact integer square root, and agreement with the float LayerNorm.</summary>
public class IntegerLayerNormTests(ITestOutputHelper output)
{
    [Fact]
    public void ISqrtIsTheExactFloor()
    {
        var r = new Random(3);
        for (int i = 0; i < 20000; i++)
        {
            long v = i < 1000 ? i : (long)(r.NextDouble() * (1L << 62));
            long s = IntegerLayerNorm.ISqrt(v);
            Assert.True(s * s <= v && (s + 1) * (s + 1) > v, $"isqrt({v}) = {s}");
        }
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(3, 33)]
    [InlineData(5, 64)]
    [InlineData(2, 768)]
    public void MatchesTheFloatLayerNorm(int rows, int d)
    {
        var r = new Random(d);
        const double s = 1.0 / (1 << 20); // residual scale
        var x = new float[rows * d];
        var xi = new int[rows * d];
        for (int i = 0; i < x.Length; i++)
        {
            xi[i] = (int)Math.Round((r.NextDouble() * 8 - 4 + (i % d == 3 ? 20 : 0)) / s); // one outlier channel
            x[i] = (float)(xi[i] * s);
        }
        var g = Enumerable.Range(0, d).Select(_ => (float)(r.NextDouble() * 2 - 0.5)).ToArray();
        var b = Enumerable.Range(0, d).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
        var yf = new float[x.Length];
        FloatReference.LayerNorm(x, g, b, 1e-5f, yf, rows, d);
        // int32 output at the residual scale, int8 output at 1/32.
        var y32 = new int[x.Length];
        var y8 = new sbyte[x.Length];
        long eps = (long)Math.Round(1e-5 / (s * s));
        IntegerLayerNorm.Rows(xi, eps, IntegerLayerNorm.Encode(g, b, 1.0 / 32), y8, IntegerLayerNorm.Encode(g, b, s), y32, rows, d);
        double e32 = 0, e8 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            e32 = Math.Max(e32, Math.Abs(y32[i] * s - yf[i]));
            e8 = Math.Max(e8, Math.Abs(y8[i] / 32.0 - Math.Clamp(yf[i], -127 / 32.0, 127 / 32.0)));
        }
        output.WriteLine($"rows {rows}, D {d}: max abs error int32 output {e32:E2}, int8 output {e8:E2} (step 1/32)");
        Assert.True(e32 < 2e-4, $"int32 output error {e32}");
        Assert.True(e8 <= 0.5 / 32 + 1e-4, $"int8 output error {e8}");
    }
}
