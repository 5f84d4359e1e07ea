using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// GemmS8_4x4_Avx512Madd16: C = bias + A·Bᵀ exactly, with A widened once to int16 and B rows sign-extended 16 at a time
/// (vpmovsxbw zmm) into vpmaddwd zmm (int16 pairs → int32). Exact for any int8/uint8 input, so bit-identical to the reference.
/// The faster vpmaddubsw (u8×s8 → saturating int16) is not used: its pair sums overflow for 8-bit weights.
/// Tile: 4 rows of A × 4 rows of B, 16 zmm accumulators (32 registers available).
/// </summary>
internal static unsafe class GemmS8Avx512
{
    public const int TileM = 4, TileN = 4, Step = 32;

    /// <summary>C [m, n] from the widened A [m, k] (row stride k).</summary>
    public static void Run(short* a, sbyte* b, int ldb, int* bias, int* c, int ldc, int m, int n, int k) =>
        Tiling.Run(a, k, b, ldb, bias, null, c, ldc, m, n, k, TileM, TileN, &Tile4x4, &Dot);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Dot(short* a, sbyte* b, int k)
    {
        var acc = Vector512<int>.Zero;
        int p = 0;
        for (; p + Step <= k; p += Step) acc = Avx512F.Add(acc, Avx512BW.MultiplyAddAdjacent(Avx512F.LoadVector512(a + p), Avx512BW.ConvertToVector512Int16(Avx.LoadVector256(b + p))));
        int s = Vector512.Sum(acc);
        for (; p < k; p++) s += a[p] * b[p];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4(short* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        short* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        sbyte* b0 = b, b1 = b + ldb, b2 = b + 2 * ldb, b3 = b + 3 * ldb;
        Vector512<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        int p = 0;
        for (; p + Step <= k; p += Step)
        {
            var x0 = Avx512F.LoadVector512(a0 + p);
            var x1 = Avx512F.LoadVector512(a1 + p);
            var x2 = Avx512F.LoadVector512(a2 + p);
            var x3 = Avx512F.LoadVector512(a3 + p);
            var w = Avx512BW.ConvertToVector512Int16(Avx.LoadVector256(b0 + p));
            c00 = Avx512F.Add(c00, Avx512BW.MultiplyAddAdjacent(x0, w));
            c10 = Avx512F.Add(c10, Avx512BW.MultiplyAddAdjacent(x1, w));
            c20 = Avx512F.Add(c20, Avx512BW.MultiplyAddAdjacent(x2, w));
            c30 = Avx512F.Add(c30, Avx512BW.MultiplyAddAdjacent(x3, w));
            w = Avx512BW.ConvertToVector512Int16(Avx.LoadVector256(b1 + p));
            c01 = Avx512F.Add(c01, Avx512BW.MultiplyAddAdjacent(x0, w));
            c11 = Avx512F.Add(c11, Avx512BW.MultiplyAddAdjacent(x1, w));
            c21 = Avx512F.Add(c21, Avx512BW.MultiplyAddAdjacent(x2, w));
            c31 = Avx512F.Add(c31, Avx512BW.MultiplyAddAdjacent(x3, w));
            w = Avx512BW.ConvertToVector512Int16(Avx.LoadVector256(b2 + p));
            c02 = Avx512F.Add(c02, Avx512BW.MultiplyAddAdjacent(x0, w));
            c12 = Avx512F.Add(c12, Avx512BW.MultiplyAddAdjacent(x1, w));
            c22 = Avx512F.Add(c22, Avx512BW.MultiplyAddAdjacent(x2, w));
            c32 = Avx512F.Add(c32, Avx512BW.MultiplyAddAdjacent(x3, w));
            w = Avx512BW.ConvertToVector512Int16(Avx.LoadVector256(b3 + p));
            c03 = Avx512F.Add(c03, Avx512BW.MultiplyAddAdjacent(x0, w));
            c13 = Avx512F.Add(c13, Avx512BW.MultiplyAddAdjacent(x1, w));
            c23 = Avx512F.Add(c23, Avx512BW.MultiplyAddAdjacent(x2, w));
            c33 = Avx512F.Add(c33, Avx512BW.MultiplyAddAdjacent(x3, w));
        }
        Span<int> s = stackalloc int[16];
        s[0] = Vector512.Sum(c00); s[1] = Vector512.Sum(c01); s[2] = Vector512.Sum(c02); s[3] = Vector512.Sum(c03);
        s[4] = Vector512.Sum(c10); s[5] = Vector512.Sum(c11); s[6] = Vector512.Sum(c12); s[7] = Vector512.Sum(c13);
        s[8] = Vector512.Sum(c20); s[9] = Vector512.Sum(c21); s[10] = Vector512.Sum(c22); s[11] = Vector512.Sum(c23);
        s[12] = Vector512.Sum(c30); s[13] = Vector512.Sum(c31); s[14] = Vector512.Sum(c32); s[15] = Vector512.Sum(c33);
        for (int r = 0; r < 4; r++)
        {
            short* ar = a + r * lda;
            for (int q = 0; q < 4; q++)
            {
                sbyte* bq = b + q * ldb;
                int v = s[r * 4 + q];
                for (int t = p; t < k; t++) v += ar[t] * bq[t];
                c[r * ldc + q] = Tiling.Edge(v, bias, wsum, j + q);
            }
        }
    }
}
