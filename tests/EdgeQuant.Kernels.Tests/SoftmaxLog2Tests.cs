using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Tests;

/// <summary>Log2 attention codes: round(−log2 p) of the integer softmax, and the shift-add P·V.</summary>
public class SoftmaxLog2Tests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CodesAreRoundedMinusLog2OfTheIntegerSoftmax(bool sqrt2Base)
    {
        var r = new Random(3);
        var (mult, shift) = Requantize.FromScale(0.37);
        int checkedCodes = 0;
        foreach (int n in new[] { 1, 3, 17, 197, 1024 })
        {
            var acc = new int[n];
            for (int i = 0; i < n; i++) acc[i] = r.Next(-4000, 4000);
            var codes = new byte[n];
            SoftmaxLog2.Row(acc, mult, shift, new int[n], codes, sqrt2Base);
            // The same integer exponentials, in double.
            var x = new int[n];
            int max = int.MinValue;
            for (int i = 0; i < n; i++) max = Math.Max(max, x[i] = Requantize.Apply(acc[i], mult, shift));
            double sum = 0;
            var z = new double[n];
            for (int i = 0; i < n; i++) sum += z[i] = SoftmaxFixedPoint.Exp(x[i], max);
            for (int i = 0; i < n; i++)
            {
                double e = -Math.Log2(z[i] / sum) * (sqrt2Base ? 2 : 1); // codes count steps of 2 (or √2)
                if (Math.Abs(e - Math.Floor(e) - 0.5) < 1e-4) continue; // a tie: the thresholds are 15-bit fixed point
                int want = (int)Math.Floor(e + 0.5);
                Assert.Equal(want > 14 ? SoftmaxLog2.ZeroCode : want, codes[i]);
                checkedCodes++;
            }
        }
        Assert.True(checkedCodes > 1000);
    }

    [Fact]
    public void ShiftAddProductEqualsPowersOfTwo()
    {
        byte[] codes = [0, 1, 14, 15, 3];         // [1, 5]
        sbyte[] v = [10, -20, 127, 99, -8,        // [2, 5] (V transposed)
                     1, 1, 1, 1, 1];
        var c = new int[2];
        SoftmaxLog2.GemmCodesS8(codes, 5, v, 5, c, 2, 1, 2, 5);
        Assert.Equal(10 * 16384 - 20 * 8192 + 127 * 1 + 0 - 8 * 2048, c[0]);
        Assert.Equal(16384 + 8192 + 1 + 2048, c[1]);
        // Base √2: codes 0, 1, 14, 15, 3 are p̂ = 1, 2^−1/2, 2^−7, 0, 2^−3/2: even codes shift, odd ones are summed and scaled by 46341/2^16.
        SoftmaxLog2.GemmCodesS8(codes, 5, v, 5, c, 2, 1, 2, 5, sqrt2Base: true);
        Assert.Equal(10 * 16384 + 127 * 128 + (int)(((-20L * 16384 - 8 * 8192) * 46341 + 32768) >> 16), c[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxLog2.Row(new int[SoftmaxLog2.MaxRow + 1], 1 << 30, 31, new int[SoftmaxLog2.MaxRow + 1], new byte[SoftmaxLog2.MaxRow + 1]));
    }
}
