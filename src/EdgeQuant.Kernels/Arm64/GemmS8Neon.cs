using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace EdgeQuant.Kernels.Arm64;

/// <summary>
/// arm64 int8 GEMMs, C = bias + A·Bᵀ, tile 4 rows of A × 4 rows of B, 16 k per step, 16 accumulators:
/// <list type="bullet">
/// <item>GemmS8_4x4c16_NeonDot (Cortex-A76/Pi 5): SDOT, 4 int8 products summed into each int32 lane, exact.</item>
/// <item>GemmS8_4x4c16_NeonSmlal (Cortex-A72/Pi 4): SMULL + SMLAL2 sum two s8 products in int16 (exact because
///   operands are in [−127, 127]: |2·127·127| &lt; 2^15), SADALP widens pairs into int32.</item>
/// <item>GemmU8S8_4x2c8_NeonSmlal16 (attention P·V, u8 × s8): A widened to int16 once, B sign-extended, SMLAL/SMLAL2 on int16.</item>
/// </list>
/// </summary>
internal static unsafe class GemmS8Neon
{
    private const int Tile = 4, Step = 16;

    public static void RunS8(sbyte* a, int lda, sbyte* b, int ldb, int* bias, int* c, int ldc, int m, int n, int k, bool dot)
    {
        if (dot) Tiling.Run(a, lda, b, ldb, bias, null, c, ldc, m, n, k, Tile, Tile, &Tile4x4Dot, &Dot);
        else Tiling.Run(a, lda, b, ldb, bias, null, c, ldc, m, n, k, Tile, Tile, &Tile4x4Smull, &Dot);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Dot(sbyte* a, sbyte* b, int k)
    {
        var acc = Vector128<int>.Zero;
        int p = 0;
        for (; p + Step <= k; p += Step)
        {
            var x = AdvSimd.LoadVector128(a + p);
            var w = AdvSimd.LoadVector128(b + p);
            var t = AdvSimd.MultiplyWideningLower(x.GetLower(), w.GetLower());
            t = AdvSimd.MultiplyWideningUpperAndAdd(t, x, w);
            acc = AdvSimd.AddPairwiseWideningAndAdd(acc, t);
        }
        int s = Vector128.Sum(acc);
        for (; p < k; p++) s += a[p] * b[p];
        return s;
    }

    private static void Finish(Vector128<int>* acc, sbyte* a, int lda, sbyte* b, int ldb, int* bias, int* c, int ldc, int j, int p, int k)
    {
        for (int r = 0; r < Tile; r++)
            for (int q = 0; q < Tile; q++)
            {
                int v = Vector128.Sum(acc[r * Tile + q]);
                sbyte* ar = a + r * lda, bq = b + q * ldb;
                for (int t = p; t < k; t++) v += ar[t] * bq[t];
                c[r * ldc + q] = Tiling.Edge(v, bias, null, j + q);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4Dot(sbyte* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        Vector128<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector128<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        sbyte* a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, b1 = b + ldb, b2 = b + 2 * ldb, b3 = b + 3 * ldb; // hoisted row pointers
        int p = 0;
        for (; p + Step <= k; p += Step)
        {
            var x0 = AdvSimd.LoadVector128(a + p);
            var x1 = AdvSimd.LoadVector128(a1 + p);
            var x2 = AdvSimd.LoadVector128(a2 + p);
            var x3 = AdvSimd.LoadVector128(a3 + p);
            var w = AdvSimd.LoadVector128(b + p);
            c00 = Dp.DotProduct(c00, x0, w); c10 = Dp.DotProduct(c10, x1, w); c20 = Dp.DotProduct(c20, x2, w); c30 = Dp.DotProduct(c30, x3, w);
            w = AdvSimd.LoadVector128(b1 + p);
            c01 = Dp.DotProduct(c01, x0, w); c11 = Dp.DotProduct(c11, x1, w); c21 = Dp.DotProduct(c21, x2, w); c31 = Dp.DotProduct(c31, x3, w);
            w = AdvSimd.LoadVector128(b2 + p);
            c02 = Dp.DotProduct(c02, x0, w); c12 = Dp.DotProduct(c12, x1, w); c22 = Dp.DotProduct(c22, x2, w); c32 = Dp.DotProduct(c32, x3, w);
            w = AdvSimd.LoadVector128(b3 + p);
            c03 = Dp.DotProduct(c03, x0, w); c13 = Dp.DotProduct(c13, x1, w); c23 = Dp.DotProduct(c23, x2, w); c33 = Dp.DotProduct(c33, x3, w);
        }
        Vector128<int>* acc = stackalloc Vector128<int>[16];
        (acc[0], acc[1], acc[2], acc[3]) = (c00, c01, c02, c03);
        (acc[4], acc[5], acc[6], acc[7]) = (c10, c11, c12, c13);
        (acc[8], acc[9], acc[10], acc[11]) = (c20, c21, c22, c23);
        (acc[12], acc[13], acc[14], acc[15]) = (c30, c31, c32, c33);
        Finish(acc, a, lda, b, ldb, bias, c, ldc, j, p, k);
    }

    private static Vector128<int> Mac(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> w)
    {
        var t = AdvSimd.MultiplyWideningLower(x.GetLower(), w.GetLower());
        t = AdvSimd.MultiplyWideningUpperAndAdd(t, x, w);
        return AdvSimd.AddPairwiseWideningAndAdd(acc, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4Smull(sbyte* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        Vector128<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector128<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        sbyte* a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, b1 = b + ldb, b2 = b + 2 * ldb, b3 = b + 3 * ldb; // hoisted row pointers
        int p = 0;
        for (; p + Step <= k; p += Step)
        {
            var x0 = AdvSimd.LoadVector128(a + p);
            var x1 = AdvSimd.LoadVector128(a1 + p);
            var x2 = AdvSimd.LoadVector128(a2 + p);
            var x3 = AdvSimd.LoadVector128(a3 + p);
            var w = AdvSimd.LoadVector128(b + p);
            c00 = Mac(c00, x0, w); c10 = Mac(c10, x1, w); c20 = Mac(c20, x2, w); c30 = Mac(c30, x3, w);
            w = AdvSimd.LoadVector128(b1 + p);
            c01 = Mac(c01, x0, w); c11 = Mac(c11, x1, w); c21 = Mac(c21, x2, w); c31 = Mac(c31, x3, w);
            w = AdvSimd.LoadVector128(b2 + p);
            c02 = Mac(c02, x0, w); c12 = Mac(c12, x1, w); c22 = Mac(c22, x2, w); c32 = Mac(c32, x3, w);
            w = AdvSimd.LoadVector128(b3 + p);
            c03 = Mac(c03, x0, w); c13 = Mac(c13, x1, w); c23 = Mac(c23, x2, w); c33 = Mac(c33, x3, w);
        }
        Vector128<int>* acc = stackalloc Vector128<int>[16];
        (acc[0], acc[1], acc[2], acc[3]) = (c00, c01, c02, c03);
        (acc[4], acc[5], acc[6], acc[7]) = (c10, c11, c12, c13);
        (acc[8], acc[9], acc[10], acc[11]) = (c20, c21, c22, c23);
        (acc[12], acc[13], acc[14], acc[15]) = (c30, c31, c32, c33);
        Finish(acc, a, lda, b, ldb, bias, c, ldc, j, p, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WidenU8(byte* src, int lda, short* dst, int m, int k)
    {
        for (int i = 0; i < m; i++)
        {
            byte* s = src + (long)i * lda;
            short* d = dst + (long)i * k;
            int p = 0;
            for (; p + 8 <= k; p += 8) AdvSimd.Store(d + p, AdvSimd.ZeroExtendWideningLower(AdvSimd.LoadVector64(s + p)).AsInt16());
            for (; p < k; p++) d[p] = s[p];
        }
    }

    /// <summary>u8 × s8 with A already widened to int16 [m, k]: exact int16 × int16 → int32 multiply-accumulate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunS16(short* a, sbyte* b, int ldb, int* bias, int* c, int ldc, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
        {
            short* ar = a + (long)i * k;
            for (int j = 0; j < n; j++)
            {
                sbyte* br = b + (long)j * ldb;
                var acc = Vector128<int>.Zero;
                int p = 0;
                for (; p + 8 <= k; p += 8)
                {
                    var x = AdvSimd.LoadVector128(ar + p);
                    var w = AdvSimd.SignExtendWideningLower(AdvSimd.LoadVector64(br + p));
                    acc = AdvSimd.MultiplyWideningLowerAndAdd(acc, x.GetLower(), w.GetLower());
                    acc = AdvSimd.MultiplyWideningUpperAndAdd(acc, x, w);
                }
                int s = Vector128.Sum(acc);
                for (; p < k; p++) s += ar[p] * br[p];
                c[(long)i * ldc + j] = s + (bias != null ? bias[j] : 0);
            }
        }
    }
}
