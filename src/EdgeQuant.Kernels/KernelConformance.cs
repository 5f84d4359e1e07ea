using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels;

/// <summary>
/// Checks a kernel path against the scalar reference, bit for bit, on odd sizes, tails and strides.
/// Used by the test suite and by <c>edgequant selftest</c> on the device itself (e.g. arm64 under qemu).
/// </summary>
public static class KernelConformance
{
    private static readonly int[] Sizes = [1, 3, 7, 16, 17, 33, 64, 65];

    /// <summary>The grouped 4-bit GEMM on strided operands (panel-major scales, a column count that leaves a partial panel).</summary>
    private static void CheckGrouped(KernelSet k, Random r, int m, int n, int kk, int group, List<string> fails)
    {
        int lda = kk + 3, ldc = n + 1, groups = (kk + group - 1) / group;
        sbyte[] a = S8(r, m * lda), w = new sbyte[n * kk];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)r.Next(-7, 8);
        byte[] b = GemmS4GroupedReference.Pack(w, n, kk);
        var bs = new ushort[(n + 7) / 8 * groups * 8];
        for (int i = 0; i < bs.Length; i++) bs[i] = GemmS4GroupedReference.ToBf16((float)(r.NextDouble() * 0.01));
        var scale = new float[m];
        for (int i = 0; i < m; i++) scale[i] = (float)(r.NextDouble() * 0.1);
        float[] c1 = new float[m * ldc], c2 = new float[m * ldc];
        GemmS4GroupedReference.Gemm(a, lda, scale, b, bs, c1, ldc, m, n, kk, group);
        k.GemmS8S4Grouped(a, lda, scale, b, bs, c2, ldc, m, n, kk, group);
        if (!c1.AsSpan().SequenceEqual(c2)) fails.Add($"{k.Name}: GemmS8S4Grouped m={m} n={n} k={kk} group={group} differs from the reference");
    }

    /// <summary>Returns one line per mismatch (empty = conformant).</summary>
    public static List<string> Check(KernelSet k, int seed = 1)
    {
        var fails = new List<string>();
        var r = new Random(seed);
        void Expect<T>(ReadOnlySpan<T> want, ReadOnlySpan<T> got, string what) where T : IEquatable<T>
        {
            if (!want.SequenceEqual(got)) fails.Add($"{k.Name}: {what} differs from the reference");
        }
        foreach (int m in Sizes)
            foreach (int n in Sizes)
                foreach (int kk in new[] { 1, 3, 17, 31, 64, 67, 130, 300, 527, 1100, 2100 }) // ≥ 256 reaches the u8×s7 tiles, ≥ 1024 / 2048 the zmm ones
                {
                    if (kk > 1024 && (m > 17 || n > 17)) continue; // long rows on small tiles only: the reference is scalar
                    int lda = kk + (m % 3), ldb = kk + 1, ldc = n + 2;
                    sbyte[] a = S8(r, m * lda), b = S8(r, n * ldb);
                    int[] bias = S32(r, n, 1 << 20);
                    int[] c1 = new int[m * ldc], c2 = new int[m * ldc];
                    GemmS8Reference.GemmS8S8(a, lda, b, ldb, bias, c1, ldc, m, n, kk);
                    k.GemmS8S8(a, lda, b, ldb, bias, c2, ldc, m, n, kk);
                    Expect<int>(c1, c2, $"GemmS8S8 m={m} n={n} k={kk}");
                    sbyte[] b7 = new sbyte[b.Length];
                    for (int i = 0; i < b7.Length; i++) b7[i] = (sbyte)r.Next(-63, 64);
                    int[] wsum = new int[n];
                    for (int j = 0; j < n; j++) for (int p = 0; p < kk; p++) wsum[j] += b7[j * ldb + p];
                    GemmS8Reference.GemmS8S8(a, lda, b7, ldb, bias, c1, ldc, m, n, kk);
                    k.GemmS8S7(a, lda, b7, ldb, bias, wsum, c2, ldc, m, n, kk);
                    Expect<int>(c1, c2, $"GemmS8S7 m={m} n={n} k={kk}");
                    sbyte[] b4 = new sbyte[n * kk]; // [n, kk], packed below with 16 bytes of row slack
                    for (int i = 0; i < b4.Length; i++) b4[i] = (sbyte)r.Next(-7, 8);
                    int rb = GemmS4Reference.RowBytes(kk), ldb4 = rb + 16;
                    byte[] packed = GemmS4Reference.Pack(b4, n, kk), strided = new byte[n * ldb4];
                    for (int j = 0; j < n; j++) packed.AsSpan(j * rb, rb).CopyTo(strided.AsSpan(j * ldb4));
                    int[] wsum4 = new int[n];
                    for (int j = 0; j < n; j++) for (int p = 0; p < kk; p++) wsum4[j] += b4[j * kk + p];
                    GemmS8Reference.GemmS8S8(a, lda, b4, kk, bias, c1, ldc, m, n, kk);
                    k.GemmS8S4(a, lda, strided, ldb4, bias, wsum4, c2, ldc, m, n, kk);
                    Expect<int>(c1, c2, $"GemmS8S4 m={m} n={n} k={kk}");
                    byte[] au = U8(r, m * kk);
                    c1 = new int[m * n]; c2 = new int[m * n];
                    GemmS8Reference.GemmU8S8(au, kk, b, ldb, default, c1, n, m, n, kk);
                    k.GemmU8S8(au, kk, b, ldb, default, c2, n, m, n, kk);
                    Expect<int>(c1, c2, $"GemmU8S8 m={m} n={n} k={kk}");
                }
        foreach (int m in new[] { 1, 2, 5, 33 })
            foreach (int n in new[] { 1, 7, 8, 17, 40 })
                foreach (int kk in new[] { 32, 40, 64, 96, 130, 256, 300 })
                    foreach (int group in new[] { 32, 64, 128 })
                        CheckGrouped(k, r, m, n, kk, group, fails);
        foreach (int cols in Sizes)
        {
            const int rows = 5;
            int[] acc = S32(r, rows * cols, 1 << 22);
            var mult = new int[cols];
            var shift = new int[cols];
            for (int c = 0; c < cols; c++) (mult[c], shift[c]) = Requantize.FromScale(Math.Exp(r.NextDouble() * 10 - 14));
            sbyte[] y1 = new sbyte[rows * cols], y2 = new sbyte[rows * cols];
            Requantize.RowsToS8(acc, cols, mult, shift, y1, cols, rows, cols);
            k.RequantizeRowsS8(acc, cols, mult, shift, y2, cols, rows, cols);
            Expect<sbyte>(y1, y2, $"RequantizeRowsS8 cols={cols}");
            Requantize.RowsToS8(acc, cols, mult[0], shift[0], y1, cols, rows, cols);
            k.RequantizeRowsS8(acc, cols, mult[0], shift[0], y2, cols, rows, cols);
            Expect<sbyte>(y1, y2, $"RequantizeRowsS8 (uniform) cols={cols}");
            GeluFixedPoint.RowsToS8(acc, mult, shift, mult[0], shift[0], y1, rows, cols);
            k.GeluRowsS8(acc, mult, shift, mult[0], shift[0], y2, rows, cols);
            Expect<sbyte>(y1, y2, $"GeluRowsS8 cols={cols}");
            ReluReference.RowsToS8(acc, mult, shift, y1, rows, cols);
            k.ReluRowsS8(acc, mult, shift, y2, rows, cols);
            Expect<sbyte>(y1, y2, $"ReluRowsS8 cols={cols}");
            byte[] p1 = new byte[cols], p2 = new byte[cols];
            SoftmaxFixedPoint.Row(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p1);
            k.SoftmaxRow(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p2);
            Expect<byte>(p1, p2, $"SoftmaxRow n={cols}");
            sbyte[] vt = S8(r, 7 * cols);
            byte[] codes = new byte[rows * cols];
            for (int i = 0; i < codes.Length; i++) codes[i] = (byte)r.Next(0, SoftmaxLog2.ZeroCode + 1);
            foreach (bool sqrt2 in (bool[])[false, true])
            {
                SoftmaxLog2.Row(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p1, sqrt2);
                k.SoftmaxLog2Row(acc.AsSpan(0, cols), mult[0], shift[0], new int[cols], p2, sqrt2);
                Expect<byte>(p1, p2, $"SoftmaxLog2Row n={cols} sqrt2={sqrt2}");
                int[] pv1 = new int[rows * 7], pv2 = new int[rows * 7];
                SoftmaxLog2.GemmCodesS8(codes, cols, vt, cols, pv1, 7, rows, 7, cols, sqrt2);
                k.GemmLog2S8(codes, cols, vt, cols, pv2, 7, rows, 7, cols, sqrt2);
                Expect<int>(pv1, pv2, $"GemmLog2S8 k={cols} sqrt2={sqrt2}");
            }
            float[] x = new float[rows * cols], g = new float[cols], bt = new float[cols];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 8 - 4);
            for (int i = 0; i < cols; i++) (g[i], bt[i]) = ((float)r.NextDouble() + 0.5f, (float)r.NextDouble() - 0.5f);
            float[] l1 = new float[x.Length], l2 = new float[x.Length];
            FloatReference.LayerNorm(x, g, bt, 1e-5f, l1, rows, cols);
            k.LayerNorm(x, g, bt, 1e-5f, l2, rows, cols);
            Expect<float>(l1, l2, $"LayerNorm cols={cols}");
            FloatReference.QuantizeS8(x, 31.7f, y1);
            k.QuantizeS8(x, 31.7f, y2);
            Expect<sbyte>(y1, y2, $"QuantizeS8 n={x.Length}");
            float[] inv = new float[cols];
            for (int i = 0; i < cols; i++) inv[i] = (float)(r.NextDouble() * 60 + 1);
            FloatReference.QuantizeS8Channels(x, inv, y1, rows, cols);
            k.QuantizeS8Channels(x, inv, y2, rows, cols);
            Expect<sbyte>(y1, y2, $"QuantizeS8Channels cols={cols}");
            int[] xi = new int[rows * cols];
            for (int i = 0; i < xi.Length; i++) xi[i] = r.Next(-(1 << 22), 1 << 22);
            int[] lnp = IntegerLayerNorm.Encode(g, bt, 1.0 / (1 << 20));
            int[] i1 = new int[xi.Length], i2 = new int[xi.Length];
            IntegerLayerNorm.Rows(xi, 3, default, default, lnp, i1, rows, cols);
            k.LayerNormS32(xi, 3, default, default, lnp, i2, rows, cols);
            Expect<int>(i1, i2, $"LayerNormS32 cols={cols}");
            int[] rs = new int[cols];
            for (int i = 0; i < cols; i++) rs[i] = r.Next(1, 20);
            int[] a1 = (int[])xi.Clone(), a2 = (int[])xi.Clone();
            IntegerLayerNorm.RequantizeAdd(acc, mult, rs, a1, rows, cols);
            k.RequantizeAddS32(acc, mult, rs, a2, rows, cols);
            Expect<int>(a1, a2, $"RequantizeAddS32 cols={cols}");
            float[] dq = new float[cols];
            for (int i = 0; i < cols; i++) dq[i] = (float)(r.NextDouble() * 1e-3);
            float[] d1 = (float[])x.Clone(), d2 = (float[])x.Clone();
            FloatReference.DequantizeAdd(acc, dq, d1, rows, cols);
            k.DequantizeAdd(acc, dq, d2, rows, cols);
            Expect<float>(d1, d2, $"DequantizeAdd cols={cols}");
            FloatReference.Dequantize(acc, dq, d1, rows, cols);
            k.Dequantize(acc, dq, d2, rows, cols);
            Expect<float>(d1, d2, $"Dequantize cols={cols}");
            // In place (post-LN blocks normalize the residual stream itself).
            x.CopyTo(l1, 0);
            x.CopyTo(l2, 0);
            FloatReference.LayerNorm(l1, g, bt, 1e-5f, l1, rows, cols);
            k.LayerNorm(l2, g, bt, 1e-5f, l2, rows, cols);
            Expect<float>(l1, l2, $"LayerNorm in place cols={cols}");
        }
        // Largest 4-bit sums the int16 accumulations meet (x64's deferred widening adds 8 pair sums in int16):
        // |a| = 128 with |w| = 7 (the loader's weight range), and |a| = 127 with w = −8.
        foreach (var (av, wv) in new (sbyte, sbyte)[] { (-128, -7), (-128, 7), (127, -8), (-127, -8), (127, 7) })
        {
            const int m4 = 7, n4 = 5, k4 = 600;
            var a4 = new sbyte[m4 * k4];
            var w4 = new sbyte[n4 * k4];
            Array.Fill(a4, av);
            Array.Fill(w4, wv);
            int rb4 = GemmS4Reference.RowBytes(k4);
            byte[] p4 = new byte[n4 * rb4];
            for (int j = 0; j < n4; j++)
                for (int p = 0; p < k4; p++)
                {
                    int i = p & 31; // same layout as GemmS4Reference.Pack, which rejects −8
                    p4[j * rb4 + p / 32 * 16 + (i & 15)] |= (byte)(i < 16 ? wv & 15 : (wv & 15) << 4);
                }
            int[] ws = new int[n4];
            Array.Fill(ws, wv * k4);
            int[] e1 = new int[m4 * n4], e2 = new int[m4 * n4];
            GemmS4Reference.GemmS8S4(a4, k4, p4, rb4, default, e1, n4, m4, n4, k4);
            k.GemmS8S4(a4, k4, p4, rb4, default, ws, e2, n4, m4, n4, k4);
            Expect<int>(e1, e2, $"GemmS8S4 extremes a={av} w={wv}");
        }
        // Rounding ties, saturation and non-finite values of the float → s8 step.
        float[] special = [0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 126.5f, 127.5f, -127.5f, 1e30f, -1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f, 3.49999f, 7f, 8f];
        sbyte[] q1 = new sbyte[special.Length], q2 = new sbyte[special.Length];
        FloatReference.QuantizeS8(special, 1f, q1);
        k.QuantizeS8(special, 1f, q2);
        Expect<sbyte>(q1, q2, "QuantizeS8 special values");
        return fails;
    }

    private static sbyte[] S8(Random r, int n) { var a = new sbyte[n]; for (int i = 0; i < n; i++) a[i] = (sbyte)r.Next(-127, 128); return a; } // symmetric int8 contract
    private static byte[] U8(Random r, int n) { var a = new byte[n]; r.NextBytes(a); return a; }
    private static int[] S32(Random r, int n, int lim) { var a = new int[n]; for (int i = 0; i < n; i++) a[i] = r.Next(-lim, lim); return a; }
}
