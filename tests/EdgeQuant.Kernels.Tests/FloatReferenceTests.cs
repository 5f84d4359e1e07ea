using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Tests;

/// <summary>
/// The portable float functions conversion relies on to give the same file on every ISA: exp/log/pow from basic IEEE
/// operations (close to the C library's), and the eight-lane dot product whose SIMD form must equal its scalar spec.
/// </summary>
public class FloatReferenceTests
{
    [Fact]
    public void PortableExpLogPowAreAccurate()
    {
        var r = new Random(5);
        for (int i = 0; i < 20000; i++)
        {
            double x = (r.NextDouble() - 0.5) * 1400; // [-700, 700]
            double e = FloatReference.Exp(x), want = Math.Exp(x);
            Assert.True(Math.Abs(e - want) <= 1e-14 * want, $"exp({x}) = {e}, libm {want}");
            double y = Math.Exp((r.NextDouble() - 0.5) * 200); // positive, wide range
            double l = FloatReference.Log(y);
            Assert.True(Math.Abs(l - Math.Log(y)) <= 1e-14 * Math.Max(1, Math.Abs(Math.Log(y))), $"log({y}) = {l}");
            double p = r.NextDouble() * 4 - 2;
            Assert.True(Math.Abs(FloatReference.Pow(y % 50 + 1e-3, p) - Math.Pow(y % 50 + 1e-3, p)) <= 1e-12 * Math.Pow(y % 50 + 1e-3, p));
        }
        Assert.Equal(0, FloatReference.Exp(-800));
        Assert.Equal(double.PositiveInfinity, FloatReference.Exp(800));
        Assert.True(double.IsNaN(FloatReference.Log(-1)) && double.IsNaN(FloatReference.Log(0)));
        Assert.Equal(0, FloatReference.Log(1));
        // 0^y as Math.Pow: AdaRound's regularizer takes |2h − 1|^(β−1) at h = ½ exactly (a NaN there once stopped a conversion)
        Assert.Equal(0, FloatReference.Pow(0, 1.5));
        Assert.Equal(double.PositiveInfinity, FloatReference.Pow(0, -1));
        Assert.Equal(1, FloatReference.Pow(0, 0));
    }

    [Fact]
    public void SimdDotLanes8EqualsItsScalarOrder()
    {
        var r = new Random(9);
        for (int n = 0; n <= 70; n++)
            for (int rep = 0; rep < 20; rep++)
            {
                var a = new float[n];
                var b = new float[n];
                for (int i = 0; i < n; i++) { a[i] = (float)(r.NextDouble() * 2 - 1) * (1 << r.Next(12)); b[i] = (float)(r.NextDouble() * 2 - 1); }
                // The specification, written out: lane l sums i ≡ l (mod 8) of the first ⌊n/8⌋·8, lanes combined pairwise, tail in order.
                var lane = new float[8];
                int full = n & ~7;
                for (int i = 0; i < full; i++) lane[i & 7] += a[i] * b[i];
                float s = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
                for (int i = full; i < n; i++) s += a[i] * b[i];
                Assert.Equal(BitConverter.SingleToUInt32Bits(s), BitConverter.SingleToUInt32Bits(FloatReference.DotLanes8(a, b)));
            }
    }

    [Fact]
    public void PortableExpFAndSinCosAreAccurate()
    {
        var r = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(r.NextDouble() * 170 - 85);
            double want = Math.Exp(x), got = FloatReference.ExpF(x);
            Assert.True(Math.Abs(got - want) <= 2.5e-7 * want, $"ExpF({x}) = {got}, e^x = {want}");
        }
        Assert.Equal(1f, FloatReference.ExpF(0f));
        Assert.Equal(0f, FloatReference.ExpF(-100f));
        Assert.Equal(float.PositiveInfinity, FloatReference.ExpF(100f));
        Assert.True(float.IsNaN(FloatReference.ExpF(float.NaN)));
        for (int i = 0; i < 200_000; i++)
        {
            double x = (r.NextDouble() - 0.5) * 2e5;
            var (s, c) = FloatReference.SinCos(x);
            Assert.True(Math.Abs(s - Math.Sin(x)) < 1e-12 && Math.Abs(c - Math.Cos(x)) < 1e-12, $"SinCos({x}) = ({s}, {c})");
        }
        Assert.True(double.IsNaN(FloatReference.SinCos(double.PositiveInfinity).Sin));
    }
}
