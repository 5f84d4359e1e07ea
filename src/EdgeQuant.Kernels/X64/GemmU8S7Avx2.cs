using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// GemmU8S7_4x2c32_Avx2Maddubs / GemmU8S7_4x4c64_Avx512Maddubs: the fast vpmaddubsw path for 7-bit weights.
/// A (s8 in [−127, 127]) is offset to u8 a' = a + 128 once; vpmaddubsw sums two u8×s7 products in int16, which cannot
/// saturate because 2·255·63 = 32130 &lt; 2^15; vpmaddwd with ones widens pairs into int32. The offset is removed with
/// the per-column weight sums: C = Σ a'·w − 128·Σw + bias. Exact, so bit-identical to the reference GEMM.
/// </summary>
internal static unsafe class GemmU8S7Avx2
{
    /// <summary>dst [m, ldd] = src + 128 as u8; columns k .. ldd − 1 are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OffsetToU8(sbyte* src, int lda, byte* dst, int ldd, int m, int k)
    {
        var flip = Vector256.Create((byte)0x80);
        for (int i = 0; i < m; i++)
        {
            sbyte* s = src + (long)i * lda;
            byte* d = dst + (long)i * ldd;
            int p = 0;
            for (; p + 32 <= k; p += 32) Avx.Store(d + p, Avx2.Xor(Avx.LoadVector256((byte*)s + p), flip));
            for (; p < k; p++) d[p] = (byte)(s[p] + 128);
            for (; p < ldd; p++) d[p] = 0;
        }
    }

    /// <summary>C [m, n] from the u8-offset A [m, k] (row stride k).</summary>
    public static void Run(byte* a, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int m, int n, int k, bool avx512)
    {
        if (avx512) Tiling.Run(a, k, b, ldb, bias, wsum, c, ldc, m, n, k, 4, 4, &Tile4x4Avx512, &Dot);
        else Tiling.Run(a, k, b, ldb, bias, wsum, c, ldc, m, n, k, 4, 2, &Tile4x2, &Dot);
    }

    private static Vector256<short> Ones => Vector256.Create((short)1); // constant load, also under Native AOT

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Dot(byte* a, sbyte* b, int k)
    {
        var acc = Vector256<int>.Zero;
        int p = 0;
        for (; p + 32 <= k; p += 32) acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a + p), Avx.LoadVector256(b + p)), Ones));
        int s = Vector256.Sum(acc);
        for (; p < k; p++) s += a[p] * b[p];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(byte* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        byte* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        sbyte* b0 = b, b1 = b + ldb;
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        int p = 0;
        for (; p + 32 <= k; p += 32)
        {
            var x0 = Avx.LoadVector256(a0 + p);
            var x1 = Avx.LoadVector256(a1 + p);
            var x2 = Avx.LoadVector256(a2 + p);
            var x3 = Avx.LoadVector256(a3 + p);
            var w = Avx.LoadVector256(b0 + p);
            c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x0, w), Ones));
            c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x1, w), Ones));
            c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x2, w), Ones));
            c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x3, w), Ones));
            w = Avx.LoadVector256(b1 + p);
            c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x0, w), Ones));
            c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x1, w), Ones));
            c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x2, w), Ones));
            c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x3, w), Ones));
        }
        Span<int> s = [Vector256.Sum(c00), Vector256.Sum(c01), Vector256.Sum(c10), Vector256.Sum(c11),
                       Vector256.Sum(c20), Vector256.Sum(c21), Vector256.Sum(c30), Vector256.Sum(c31)];
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 2; q++)
            {
                int v = s[r * 2 + q];
                byte* ar = a + r * lda;
                sbyte* bq = b + q * ldb;
                for (int t = p; t < k; t++) v += ar[t] * bq[t];
                c[r * ldc + q] = Tiling.Edge(v, bias, wsum, j + q);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4Avx512(byte* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        var ones = Vector512.Create((short)1);
        Vector512<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        int p = 0;
        for (; p + 64 <= k; p += 64)
        {
            var x0 = Avx512F.LoadVector512(a + p);
            var x1 = Avx512F.LoadVector512(a + lda + p);
            var x2 = Avx512F.LoadVector512(a + 2 * lda + p);
            var x3 = Avx512F.LoadVector512(a + 3 * lda + p);
            var w = Avx512F.LoadVector512(b + p);
            c00 = Avx512F.Add(c00, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x0, w), ones));
            c10 = Avx512F.Add(c10, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x1, w), ones));
            c20 = Avx512F.Add(c20, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x2, w), ones));
            c30 = Avx512F.Add(c30, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x3, w), ones));
            w = Avx512F.LoadVector512(b + ldb + p);
            c01 = Avx512F.Add(c01, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x0, w), ones));
            c11 = Avx512F.Add(c11, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x1, w), ones));
            c21 = Avx512F.Add(c21, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x2, w), ones));
            c31 = Avx512F.Add(c31, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x3, w), ones));
            w = Avx512F.LoadVector512(b + 2 * ldb + p);
            c02 = Avx512F.Add(c02, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x0, w), ones));
            c12 = Avx512F.Add(c12, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x1, w), ones));
            c22 = Avx512F.Add(c22, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x2, w), ones));
            c32 = Avx512F.Add(c32, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x3, w), ones));
            w = Avx512F.LoadVector512(b + 3 * ldb + p);
            c03 = Avx512F.Add(c03, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x0, w), ones));
            c13 = Avx512F.Add(c13, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x1, w), ones));
            c23 = Avx512F.Add(c23, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x2, w), ones));
            c33 = Avx512F.Add(c33, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x3, w), ones));
        }
        Span<int> s = [Vector512.Sum(c00), Vector512.Sum(c01), Vector512.Sum(c02), Vector512.Sum(c03),
                       Vector512.Sum(c10), Vector512.Sum(c11), Vector512.Sum(c12), Vector512.Sum(c13),
                       Vector512.Sum(c20), Vector512.Sum(c21), Vector512.Sum(c22), Vector512.Sum(c23),
                       Vector512.Sum(c30), Vector512.Sum(c31), Vector512.Sum(c32), Vector512.Sum(c33)];
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++)
            {
                int v = s[r * 4 + q];
                byte* ar = a + r * lda;
                sbyte* bq = b + q * ldb;
                for (int t = p; t < k; t++) v += ar[t] * bq[t];
                c[r * ldc + q] = Tiling.Edge(v, bias, wsum, j + q);
            }
    }
}
