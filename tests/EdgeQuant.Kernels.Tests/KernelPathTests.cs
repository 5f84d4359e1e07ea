using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Tests;

/// <summary>Every kernel path this CPU can run must equal the scalar reference bit for bit, on odd sizes and tails.</summary>
public class KernelPathTests
{
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string>();
        foreach (var p in KernelTable.Available) d.Add(p);
        return d;
    }

    private static readonly int[] Sizes = [1, 3, 7, 16, 17, 33, 64, 65];

    private static sbyte[] S8(Random r, int n) { var a = new sbyte[n]; for (int i = 0; i < n; i++) a[i] = (sbyte)r.Next(-128, 128); return a; }
    private static byte[] U8(Random r, int n) { var a = new byte[n]; r.NextBytes(a); return a; }
    private static int[] S32(Random r, int n, int lim) { var a = new int[n]; for (int i = 0; i < n; i++) a[i] = r.Next(-lim, lim); return a; }

    [Fact]
    public void ReferenceGemmMatchesDefinition()
    {
        var r = new Random(1);
        sbyte[] a = S8(r, 6), b = S8(r, 6);
        var c = new int[4];
        GemmS8Reference.GemmS8S8(a, 3, b, 3, [10, 20], c, 2, 2, 2, 3);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                Assert.Equal((i == 0 ? 0 : 0) + (j == 0 ? 10 : 20) + a[i * 3] * b[j * 3] + a[i * 3 + 1] * b[j * 3 + 1] + a[i * 3 + 2] * b[j * 3 + 2], c[i * 2 + j]);
        Assert.Throws<ArgumentException>(() => GemmS8Reference.GemmS8S8(a, 3, b, 3, default, c, 2, 3, 2, 3));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void GemmS8S8EqualsReference(string path)
    {
        var k = KernelTable.Select(path);
        var r = new Random(2);
        foreach (int m in Sizes)
            foreach (int n in Sizes)
                foreach (int kk in new[] { 1, 3, 17, 64, 67 })
                {
                    int lda = kk + (m % 3), ldb = kk + 1, ldc = n + 2;
                    sbyte[] a = S8(r, m * lda), b = S8(r, n * ldb);
                    int[] bias = S32(r, n, 1 << 20);
                    int[] c1 = new int[m * ldc], c2 = new int[m * ldc];
                    GemmS8Reference.GemmS8S8(a, lda, b, ldb, bias, c1, ldc, m, n, kk);
                    k.GemmS8S8(a, lda, b, ldb, bias, c2, ldc, m, n, kk);
                    Assert.Equal(c1, c2);
                }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void GemmU8S8EqualsReference(string path)
    {
        var k = KernelTable.Select(path);
        var r = new Random(3);
        foreach (int m in Sizes)
            foreach (int n in new[] { 1, 5, 16, 33 })
                foreach (int kk in Sizes)
                {
                    byte[] a = U8(r, m * kk);
                    sbyte[] b = S8(r, n * kk);
                    int[] c1 = new int[m * n], c2 = new int[m * n];
                    GemmS8Reference.GemmU8S8(a, kk, b, kk, default, c1, n, m, n, kk);
                    k.GemmU8S8(a, kk, b, kk, default, c2, n, m, n, kk);
                    Assert.Equal(c1, c2);
                }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void EpiloguesEqualReference(string path)
    {
        var k = KernelTable.Select(path);
        var r = new Random(4);
        foreach (int cols in Sizes)
        {
            int rows = 5;
            int[] acc = S32(r, rows * cols, 1 << 22);
            var mult = new int[cols];
            var shift = new int[cols];
            for (int c = 0; c < cols; c++) (mult[c], shift[c]) = Requantize.FromScale(Math.Exp(r.NextDouble() * 10 - 14));
            sbyte[] y1 = new sbyte[rows * cols], y2 = new sbyte[rows * cols];
            Requantize.RowsToS8(acc, cols, mult, shift, y1, cols, rows, cols);
            k.RequantizeRowsS8(acc, cols, mult, shift, y2, cols, rows, cols);
            Assert.Equal(y1, y2);
            GeluFixedPoint.RowsToS8(acc, mult, shift, mult[0], shift[0], y1, rows, cols);
            k.GeluRowsS8(acc, mult, shift, mult[0], shift[0], y2, rows, cols);
            Assert.Equal(y1, y2);
            ReluReference.RowsToS8(acc, mult, shift, y1, rows, cols);
            k.ReluRowsS8(acc, mult, shift, y2, rows, cols);
            Assert.Equal(y1, y2);
            byte[] p1 = new byte[cols], p2 = new byte[cols];
            SoftmaxFixedPoint.Row(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p1);
            k.SoftmaxRow(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p2);
            Assert.Equal(p1, p2);
            float[] x = new float[rows * cols], g = new float[cols], bt = new float[cols];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 8 - 4);
            for (int i = 0; i < cols; i++) (g[i], bt[i]) = ((float)r.NextDouble() + 0.5f, (float)r.NextDouble() - 0.5f);
            float[] l1 = new float[x.Length], l2 = new float[x.Length];
            FloatReference.LayerNorm(x, g, bt, 1e-5f, l1, rows, cols);
            k.LayerNorm(x, g, bt, 1e-5f, l2, rows, cols);
            Assert.Equal(l1, l2);
            FloatReference.QuantizeS8(x, 31.7f, y1);
            k.QuantizeS8(x, 31.7f, y2);
            Assert.Equal(y1, y2);
        }
    }

    [Fact]
    public void UnknownPathIsAClearError() =>
        Assert.Contains("not available", Assert.Throws<ArgumentException>(() => KernelTable.Select("quantum")).Message);
}
