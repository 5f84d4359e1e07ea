using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// GemmU8S4_6x16c4_Avx2MaddubsOuter: the 4-bit-weight GEMM as an outer product with deferred widening. A (s8) is
/// offset to u8 a' = a + 128 (row stride K rounded up to 32, zero-padded); B's packed nibbles are unpacked per call,
/// 16 columns at a time, into panels [K/4][16][4] of s8 (one ymm = 8 columns × 4 consecutive k). Each step broadcasts
/// 4 bytes of A per row (vpbroadcastd) into vpmaddubsw against two B vectors, giving per column two int16 pair sums.
/// Because |w| ≤ 8, a pair sum is at most 2·255·8 = 4080, so eight steps (32 k) add up in int16 without overflow
/// (32,640 &lt; 2^15) before one vpmaddwd by ones widens them to int32 — ~1.1 multiply instructions per 32 MACs
/// instead of 2 for 7-bit weights (whose pair sums fill int16 in one step). No horizontal reductions. The offset is
/// removed with the per-column weight sums: C = Σ a'·w − 128·Σw + bias. Exact, so bit-identical to the reference.
/// </summary>
internal static unsafe class GemmU8S4OuterAvx2
{
    public const int TileM = 6, TileN = 16;

    /// <summary>Quads (4 k) accumulated in int16 before widening: 8 · 4080 = 32,640 ≤ 32,767.</summary>
    private const int QuadsPerWiden = 8;

    [ThreadStatic] private static sbyte[]? t_panels;
    [ThreadStatic] private static byte[]? t_a;

    /// <summary>C [m, n] = bias + A · Bᵀ for s8 A [m, k] (stride lda) and packed 4-bit B rows (stride ldb bytes).</summary>
    public static void Run(sbyte* a, int lda, byte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int m, int n, int k)
    {
        int rb = GemmS4Reference.RowBytes(k), kp = 2 * rb; // kp: K rounded up to 32, the panels' depth
        byte* au = WideningScratch.Aligned(ref t_a, m * kp); // [m, kp]
        GemmU8S7Avx2.OffsetToU8(a, lda, au, kp, m, k);
        // Column groups per packed block: ≈ 96 KiB of s8 panels (L2), at least one group.
        int groups = Math.Max(1, 98304 / (kp * TileN));
        sbyte* panels = WideningScratch.Aligned(ref t_panels, groups * kp * TileN); // [groups, kp/4, 16, 4]
        int* edge = stackalloc int[TileM * TileN]; // [6, 16]
        int* colAdd = stackalloc int[TileN]; // [16] bias − 128·Σw per column
        for (int jb = 0; jb < n; jb += groups * TileN)
        {
            int cols = Math.Min(groups * TileN, n - jb);
            Pack(b + (long)jb * ldb, ldb, cols, rb, panels);
            for (int g = 0; g * TileN < cols; g++)
            {
                int j0 = jb + g * TileN, w = Math.Min(TileN, n - j0);
                sbyte* pg = panels + (long)g * kp * TileN;
                for (int jj = 0; jj < TileN; jj++)
                    colAdd[jj] = jj < w ? (bias == null ? 0 : bias[j0 + jj]) - 128 * wsum[j0 + jj] : 0;
                for (int i = 0; i < m; i += TileM)
                {
                    int rows = Math.Min(TileM, m - i);
                    if (rows == TileM && w == TileN)
                        Tile(au + (long)i * kp, kp, rows, pg, colAdd, c + (long)i * ldc + j0, ldc);
                    else
                    {
                        // Edge tile: a full 6x16 into scratch (missing rows repeat row 0), keep the valid part.
                        Tile(au + (long)i * kp, kp, rows, pg, colAdd, edge, TileN);
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<int>(edge + r * TileN, w).CopyTo(new Span<int>(c + (long)(i + r) * ldc + j0, w));
                    }
                }
            }
        }
    }

    /// <summary>
    /// Unpacks <paramref name="cols"/> packed rows into groups of 16 columns: panels[g][q][jj][0..3] = B[16g + jj][4q .. 4q+3];
    /// columns past <paramref name="cols"/> are zero. Four columns at a time: each column's 16-byte block gives 8 quads
    /// (two vectors of 4), and a 4x4 transpose of int32 turns four columns' quads into one 16-byte panel row per quad.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pack(byte* b, int ldb, int cols, int rb, sbyte* panels)
    {
        int kq = rb / 2, groups = (cols + TileN - 1) / TileN; // kq: quads of k per row (16 bytes hold 32 weights = 8 quads)
        byte* zero = stackalloc byte[16];
        *(Vector128<byte>*)zero = default;
        for (int g = 0; g < groups; g++)
        {
            int* pg = (int*)(panels + (long)g * kq * 4 * TileN); // [kq, 16] of 4-byte quads
            for (int jj = 0; jj < TileN; jj += 4)
            {
                int j = g * TileN + jj;
                // Missing columns read a zero block (stride 0) and so pack as zero weights.
                byte* r0 = j < cols ? b + (long)j * ldb : zero, r1 = j + 1 < cols ? b + (long)(j + 1) * ldb : zero;
                byte* r2 = j + 2 < cols ? b + (long)(j + 2) * ldb : zero, r3 = j + 3 < cols ? b + (long)(j + 3) * ldb : zero;
                int s0 = j < cols ? 16 : 0, s1 = j + 1 < cols ? 16 : 0, s2 = j + 2 < cols ? 16 : 0, s3 = j + 3 < cols ? 16 : 0;
                int* d = pg + jj;
                for (int blk = 0; blk < rb; blk += 16, d += 8 * TileN, r0 += s0, r1 += s1, r2 += s2, r3 += s3)
                {
                    var (l0, h0) = GemmS4Unpacked.Nibbles(Sse2.LoadVector128(r0));
                    var (l1, h1) = GemmS4Unpacked.Nibbles(Sse2.LoadVector128(r1));
                    var (l2, h2) = GemmS4Unpacked.Nibbles(Sse2.LoadVector128(r2));
                    var (l3, h3) = GemmS4Unpacked.Nibbles(Sse2.LoadVector128(r3));
                    Transpose4(l0.AsInt32(), l1.AsInt32(), l2.AsInt32(), l3.AsInt32(), d);             // quads 0..3 of the block (k 0..15)
                    Transpose4(h0.AsInt32(), h1.AsInt32(), h2.AsInt32(), h3.AsInt32(), d + 4 * TileN); // quads 4..7 (k 16..31)
                }
            }
        }
    }

    /// <summary>Rows r0..r3 hold quads 0..3 of four columns; stores quad q's four columns at d + q·16 (ints).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(Vector128<int> r0, Vector128<int> r1, Vector128<int> r2, Vector128<int> r3, int* d)
    {
        var t0 = Sse2.UnpackLow(r0, r1).AsInt64();  // r0q0 r1q0 r0q1 r1q1
        var t1 = Sse2.UnpackLow(r2, r3).AsInt64();  // r2q0 r3q0 r2q1 r3q1
        var t2 = Sse2.UnpackHigh(r0, r1).AsInt64(); // r0q2 r1q2 r0q3 r1q3
        var t3 = Sse2.UnpackHigh(r2, r3).AsInt64();
        Sse2.Store(d, Sse2.UnpackLow(t0, t1).AsInt32());
        Sse2.Store(d + TileN, Sse2.UnpackHigh(t0, t1).AsInt32());
        Sse2.Store(d + 2 * TileN, Sse2.UnpackLow(t2, t3).AsInt32());
        Sse2.Store(d + 3 * TileN, Sse2.UnpackHigh(t2, t3).AsInt32());
    }

    private static Vector256<short> Ones => Vector256.Create((short)1); // constant load, also under Native AOT

    /// <summary>
    /// 6 rows × 16 columns: C = Σ a'·w + colAdd; rows beyond <paramref name="rows"/> recompute row 0 (their results
    /// are not used). <paramref name="lda"/> (the padded depth) is a multiple of 32. With 32 vector registers (AVX-512VL
    /// encodings, also for ymm) the 12 int32 sums stay in registers; with AVX2's 16 they live in the C tile itself (L1),
    /// updated once per 8 quads, so the loop needs 15 registers and does not spill (`EdgeQuant.Bench gemm --best`:
    /// registers 150 vs memory 136 GMAC/s with 32 registers; DeiT-S W4 on the x86-64-v3 AOT build 55–66 → 49.5 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(byte* a, int lda, int rows, sbyte* pg, int* colAdd, int* c, int ldc)
    {
        byte* a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2 * lda : a;
        byte* a3 = rows > 3 ? a + 3 * lda : a, a4 = rows > 4 ? a + 4 * lda : a, a5 = rows > 5 ? a + 5 * lda : a;
        bool registers = Avx512F.VL.IsSupported; // a constant in JIT and AOT code alike
        var d0 = Avx.LoadVector256(colAdd);
        var d1 = Avx.LoadVector256(colAdd + 8);
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<int> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (!registers)
            for (int r = 0; r < TileM; r++)
            {
                Avx.Store(c + r * ldc, d0);
                Avx.Store(c + r * ldc + 8, d1);
            }
        for (int p0 = 0; p0 < lda; p0 += 4 * QuadsPerWiden)
        {
            // int16 accumulators: two pair sums per column, at most 8 · 4080 in magnitude.
            Vector256<short> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default;
            Vector256<short> s30 = default, s31 = default, s40 = default, s41 = default, s50 = default, s51 = default;
            sbyte* bq = pg + p0 * TileN; // [8 quads, 16, 4]
            for (int p = p0; p < p0 + 4 * QuadsPerWiden; p += 4, bq += 4 * TileN)
            {
                var b0 = Avx.LoadVector256(bq);
                var b1 = Avx.LoadVector256(bq + 32);
                var x = Vector256.Create(*(int*)(a0 + p)).AsByte();
                s00 = Avx2.Add(s00, Avx2.MultiplyAddAdjacent(x, b0)); s01 = Avx2.Add(s01, Avx2.MultiplyAddAdjacent(x, b1));
                x = Vector256.Create(*(int*)(a1 + p)).AsByte();
                s10 = Avx2.Add(s10, Avx2.MultiplyAddAdjacent(x, b0)); s11 = Avx2.Add(s11, Avx2.MultiplyAddAdjacent(x, b1));
                x = Vector256.Create(*(int*)(a2 + p)).AsByte();
                s20 = Avx2.Add(s20, Avx2.MultiplyAddAdjacent(x, b0)); s21 = Avx2.Add(s21, Avx2.MultiplyAddAdjacent(x, b1));
                x = Vector256.Create(*(int*)(a3 + p)).AsByte();
                s30 = Avx2.Add(s30, Avx2.MultiplyAddAdjacent(x, b0)); s31 = Avx2.Add(s31, Avx2.MultiplyAddAdjacent(x, b1));
                x = Vector256.Create(*(int*)(a4 + p)).AsByte();
                s40 = Avx2.Add(s40, Avx2.MultiplyAddAdjacent(x, b0)); s41 = Avx2.Add(s41, Avx2.MultiplyAddAdjacent(x, b1));
                x = Vector256.Create(*(int*)(a5 + p)).AsByte();
                s50 = Avx2.Add(s50, Avx2.MultiplyAddAdjacent(x, b0)); s51 = Avx2.Add(s51, Avx2.MultiplyAddAdjacent(x, b1));
            }
            if (registers)
            {
                var ones = Ones;
                c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(s00, ones)); c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(s01, ones));
                c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(s10, ones)); c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(s11, ones));
                c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(s20, ones)); c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(s21, ones));
                c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(s30, ones)); c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(s31, ones));
                c40 = Avx2.Add(c40, Avx2.MultiplyAddAdjacent(s40, ones)); c41 = Avx2.Add(c41, Avx2.MultiplyAddAdjacent(s41, ones));
                c50 = Avx2.Add(c50, Avx2.MultiplyAddAdjacent(s50, ones)); c51 = Avx2.Add(c51, Avx2.MultiplyAddAdjacent(s51, ones));
            }
            else
            {
                Widen(c, s00, s01);
                Widen(c + ldc, s10, s11);
                Widen(c + 2 * ldc, s20, s21);
                Widen(c + 3 * ldc, s30, s31);
                Widen(c + 4 * ldc, s40, s41);
                Widen(c + 5 * ldc, s50, s51);
            }
        }
        if (registers)
            GemmS16OuterAvx2.Store6x16(c, ldc, d0, d1, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>Adds one row's int16 pair sums (columns 0–7 and 8–15), widened by vpmaddwd with ones, into the C row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(int* row, Vector256<short> lo, Vector256<short> hi)
    {
        Avx.Store(row, Avx2.Add(Avx.LoadVector256(row), Avx2.MultiplyAddAdjacent(lo, Ones)));
        Avx.Store(row + 8, Avx2.Add(Avx.LoadVector256(row + 8), Avx2.MultiplyAddAdjacent(hi, Ones)));
    }
}
