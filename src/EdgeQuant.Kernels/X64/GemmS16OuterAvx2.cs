using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// GemmS16_6x16_Avx2MaddOuter: C = bias + A·Bᵀ exactly, as an outer product. B (s8 [n, k]) is packed per call, 16
/// columns at a time, into int16 pairs [k/2][16][2] (one ymm = 8 columns × 2 k); each step broadcasts one int16 pair of
/// A per row (vpbroadcastd) into vpmaddwd against two B vectors, so the 12 accumulators are 6 rows × 16 output
/// columns and no horizontal reduction is ever needed — the dot-product tiles spend much of short-K GEMMs (attention:
/// K = 64, 197) reducing. Packing costs N·K per call against M·N·K multiply-adds (M ≥ 6 here). Exact for any int16
/// A (widened s8 or u8) and s8 B, so bit-identical to the reference.
/// </summary>
internal static unsafe class GemmS16OuterAvx2
{
    public const int TileM = 6, TileN = 16;

    [ThreadStatic] private static short[]? t_panels;

    /// <summary>C [m, n] from the widened A [m, k] (row stride k; one readable element past the end) and s8 B rows.</summary>
    public static void Run(short* a, sbyte* b, int ldb, int* bias, int* c, int ldc, int m, int n, int k)
    {
        int kp = (k + 1) / 2;
        // Column groups per packed block: ≈ 96 KiB of int16 pairs (L2), at least one group.
        int groups = Math.Max(1, 98304 / (kp * TileN * 2 * sizeof(short)));
        int blockShorts = groups * kp * TileN * 2;
        short* panels = WideningScratch.Aligned(ref t_panels, blockShorts); // [groups, kp, 16, 2]
        int* edge = stackalloc int[TileM * TileN];
        for (int jb = 0; jb < n; jb += groups * TileN)
        {
            int cols = Math.Min(groups * TileN, n - jb);
            Pack(b + (long)jb * ldb, ldb, cols, k, kp, panels);
            for (int g = 0; g * TileN < cols; g++)
            {
                int j0 = jb + g * TileN, w = Math.Min(TileN, n - j0);
                short* pg = panels + (long)g * kp * TileN * 2;
                for (int i = 0; i < m; i += TileM)
                {
                    int rows = Math.Min(TileM, m - i);
                    if (rows == TileM && w == TileN)
                        Tile(a + (long)i * k, k, rows, pg, kp, bias == null ? null : bias + j0, c + (long)i * ldc + j0, ldc);
                    else
                    {
                        // Edge tile: compute a full 6x16 into a scratch tile (missing rows repeat row 0), keep the valid part.
                        Tile(a + (long)i * k, k, rows, pg, kp, null, edge, TileN);
                        for (int r = 0; r < rows; r++)
                            for (int jj = 0; jj < w; jj++)
                                c[(long)(i + r) * ldc + j0 + jj] = edge[r * TileN + jj] + (bias == null ? 0 : bias[j0 + jj]);
                    }
                }
            }
        }
    }

    /// <summary>Packs B rows [cols, k] into groups of 16 columns: panels[g][p][jj][0..1] = B[16g + jj][2p .. 2p+1], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pack(sbyte* b, int ldb, int cols, int k, int kp, short* panels)
    {
        int groups = (cols + TileN - 1) / TileN;
        for (int g = 0; g < groups; g++)
        {
            short* pg = panels + (long)g * kp * TileN * 2;
            for (int jj = 0; jj < TileN; jj++)
            {
                int j = g * TileN + jj;
                sbyte* row = b + (long)j * ldb;
                if (j >= cols)
                {
                    for (int p = 0; p < kp; p++) *(int*)(pg + (p * TileN + jj) * 2) = 0;
                    continue;
                }
                int q = 0;
                for (; q + 1 < k; q += 2)
                {
                    short* d = pg + ((q >> 1) * TileN + jj) * 2;
                    d[0] = row[q];
                    d[1] = row[q + 1];
                }
                if (q < k)
                {
                    short* d = pg + ((q >> 1) * TileN + jj) * 2;
                    d[0] = row[q];
                    d[1] = 0;
                }
            }
        }
    }

    /// <summary>6 rows × 16 columns; rows beyond <paramref name="rows"/> recompute row 0 (their results are not used).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(short* a, int lda, int rows, short* pg, int kp, int* bias, int* c, int ldc)
    {
        short* a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2 * lda : a;
        short* a3 = rows > 3 ? a + 3 * lda : a, a4 = rows > 4 ? a + 4 * lda : a, a5 = rows > 5 ? a + 5 * lda : a;
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<int> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kp; p++)
        {
            var b0 = Avx.LoadVector256(pg + p * 32);
            var b1 = Avx.LoadVector256(pg + p * 32 + 16);
            var x = Vector256.Create(*(int*)(a0 + 2 * p)).AsInt16();
            c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(x, b0)); c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(x, b1));
            x = Vector256.Create(*(int*)(a1 + 2 * p)).AsInt16();
            c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(x, b0)); c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(x, b1));
            x = Vector256.Create(*(int*)(a2 + 2 * p)).AsInt16();
            c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(x, b0)); c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(x, b1));
            x = Vector256.Create(*(int*)(a3 + 2 * p)).AsInt16();
            c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(x, b0)); c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(x, b1));
            x = Vector256.Create(*(int*)(a4 + 2 * p)).AsInt16();
            c40 = Avx2.Add(c40, Avx2.MultiplyAddAdjacent(x, b0)); c41 = Avx2.Add(c41, Avx2.MultiplyAddAdjacent(x, b1));
            x = Vector256.Create(*(int*)(a5 + 2 * p)).AsInt16();
            c50 = Avx2.Add(c50, Avx2.MultiplyAddAdjacent(x, b0)); c51 = Avx2.Add(c51, Avx2.MultiplyAddAdjacent(x, b1));
        }
        var d0 = bias == null ? default : Avx.LoadVector256(bias);
        var d1 = bias == null ? default : Avx.LoadVector256(bias + 8);
        Store6x16(c, ldc, d0, d1, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>Stores a 6x16 accumulator tile (rows of two vectors) plus the per-column addend (d0, d1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store6x16(int* c, int ldc, Vector256<int> d0, Vector256<int> d1,
        Vector256<int> c00, Vector256<int> c01, Vector256<int> c10, Vector256<int> c11, Vector256<int> c20, Vector256<int> c21,
        Vector256<int> c30, Vector256<int> c31, Vector256<int> c40, Vector256<int> c41, Vector256<int> c50, Vector256<int> c51)
    {
        Avx.Store(c, Avx2.Add(c00, d0)); Avx.Store(c + 8, Avx2.Add(c01, d1));
        Avx.Store(c + ldc, Avx2.Add(c10, d0)); Avx.Store(c + ldc + 8, Avx2.Add(c11, d1));
        Avx.Store(c + 2 * ldc, Avx2.Add(c20, d0)); Avx.Store(c + 2 * ldc + 8, Avx2.Add(c21, d1));
        Avx.Store(c + 3 * ldc, Avx2.Add(c30, d0)); Avx.Store(c + 3 * ldc + 8, Avx2.Add(c31, d1));
        Avx.Store(c + 4 * ldc, Avx2.Add(c40, d0)); Avx.Store(c + 4 * ldc + 8, Avx2.Add(c41, d1));
        Avx.Store(c + 5 * ldc, Avx2.Add(c50, d0)); Avx.Store(c + 5 * ldc + 8, Avx2.Add(c51, d1));
    }
}
