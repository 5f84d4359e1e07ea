using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// GemmS8_4x3_Avx2Madd16: C = bias + A·Bᵀ exactly, with A widened once to int16 and B rows sign-extended 16 at a time
/// (vpmovsxbw) into vpmaddwd (int16 pairs → int32). Exact for any int8/uint8 input, so bit-identical to the reference.
/// The faster vpmaddubsw (u8×s8 → saturating int16) is not used: its pair sums overflow for 8-bit weights.
/// Tile: 4 rows of A × 3 rows of B, 12 ymm accumulators.
/// </summary>
internal static unsafe class GemmS8Avx2
{
    public const int TileM = 4, TileN = 3, Step = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WidenS8(sbyte* src, int lda, short* dst, int m, int k)
    {
        for (int i = 0; i < m; i++)
        {
            sbyte* s = src + (long)i * lda;
            short* d = dst + (long)i * k;
            int p = 0;
            for (; p + 16 <= k; p += 16) Avx.Store(d + p, Avx2.ConvertToVector256Int16(s + p));
            for (; p < k; p++) d[p] = s[p];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WidenU8(byte* src, int lda, short* dst, int m, int k)
    {
        for (int i = 0; i < m; i++)
        {
            byte* s = src + (long)i * lda;
            short* d = dst + (long)i * k;
            int p = 0;
            for (; p + 16 <= k; p += 16) Avx.Store(d + p, Avx2.ConvertToVector256Int16(s + p).AsInt16());
            for (; p < k; p++) d[p] = s[p];
        }
    }

    /// <summary>C [m, n] from the widened A [m, k] (row stride k).</summary>
    public static void Run(short* a, sbyte* b, int ldb, int* bias, int* c, int ldc, int m, int n, int k) =>
        Tiling.Run(a, k, b, ldb, bias, null, c, ldc, m, n, k, TileM, TileN, &Tile4x3, &Dot);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Dot(short* a, sbyte* b, int k)
    {
        var acc = Vector256<int>.Zero;
        int p = 0;
        for (; p + Step <= k; p += Step) acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a + p), Avx2.ConvertToVector256Int16(b + p)));
        int s = Vector256.Sum(acc);
        for (; p < k; p++) s += a[p] * b[p];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x3(short* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int j, int k)
    {
        short* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        sbyte* b0 = b, b1 = b + ldb, b2 = b + 2 * ldb;
        Vector256<int> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector256<int> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        int p = 0;
        for (; p + Step <= k; p += Step)
        {
            var w = Avx2.ConvertToVector256Int16(b0 + p);
            c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a0 + p), w));
            c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a1 + p), w));
            c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a2 + p), w));
            c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a3 + p), w));
            w = Avx2.ConvertToVector256Int16(b1 + p);
            c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a0 + p), w));
            c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a1 + p), w));
            c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a2 + p), w));
            c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a3 + p), w));
            w = Avx2.ConvertToVector256Int16(b2 + p);
            c02 = Avx2.Add(c02, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a0 + p), w));
            c12 = Avx2.Add(c12, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a1 + p), w));
            c22 = Avx2.Add(c22, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a2 + p), w));
            c32 = Avx2.Add(c32, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a3 + p), w));
        }
        int s00 = Vector256.Sum(c00), s01 = Vector256.Sum(c01), s02 = Vector256.Sum(c02);
        int s10 = Vector256.Sum(c10), s11 = Vector256.Sum(c11), s12 = Vector256.Sum(c12);
        int s20 = Vector256.Sum(c20), s21 = Vector256.Sum(c21), s22 = Vector256.Sum(c22);
        int s30 = Vector256.Sum(c30), s31 = Vector256.Sum(c31), s32 = Vector256.Sum(c32);
        for (; p < k; p++)
        {
            int w0 = b0[p], w1 = b1[p], w2 = b2[p];
            s00 += a0[p] * w0; s01 += a0[p] * w1; s02 += a0[p] * w2;
            s10 += a1[p] * w0; s11 += a1[p] * w1; s12 += a1[p] * w2;
            s20 += a2[p] * w0; s21 += a2[p] * w1; s22 += a2[p] * w2;
            s30 += a3[p] * w0; s31 += a3[p] * w1; s32 += a3[p] * w2;
        }
        int d0 = Tiling.Edge(0, bias, wsum, j), d1 = Tiling.Edge(0, bias, wsum, j + 1), d2 = Tiling.Edge(0, bias, wsum, j + 2);
        c[0] = s00 + d0; c[1] = s01 + d1; c[2] = s02 + d2;
        c[ldc] = s10 + d0; c[ldc + 1] = s11 + d1; c[ldc + 2] = s12 + d2;
        c[2 * ldc] = s20 + d0; c[2 * ldc + 1] = s21 + d1; c[2 * ldc + 2] = s22 + d2;
        c[3 * ldc] = s30 + d0; c[3 * ldc + 1] = s31 + d1; c[3 * ldc + 2] = s32 + d2;
    }
}
