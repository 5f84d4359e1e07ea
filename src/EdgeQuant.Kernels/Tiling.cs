using System.Runtime.CompilerServices;

namespace EdgeQuant.Kernels;

/// <summary>
/// The shared GEMM driver of the SIMD paths: L2 blocks of A rows × B rows (weights), register tiles inside a block,
/// and a vector dot product for edge rows/columns. Tiles and dots are the ISA-specific parts.
/// A tile computes C[tileM, tileN] at <c>c</c> from A rows at <c>a</c> (stride lda) and B rows at <c>b</c> (stride ldb),
/// for output columns starting at <c>j</c>, adding <see cref="Edge"/>'s per-column terms.
/// </summary>
internal static unsafe class Tiling
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TA>(TA* a, int lda, sbyte* b, int ldb, int* bias, int* wsum, int* c, int ldc, int m, int n, int k, int tileM, int tileN,
        delegate*<TA*, int, sbyte*, int, int*, int*, int*, int, int, int, void> tile, delegate*<TA*, sbyte*, int, int> dot) where TA : unmanaged
    {
        int nb = WideningScratch.ColumnBlock(k, tileN), mb = WideningScratch.RowBlock(k, tileM, sizeof(TA));
        for (int ib = 0; ib < m; ib += mb)
        {
            int ie = Math.Min(ib + mb, m);
            for (int jb = 0; jb < n; jb += nb)
            {
                int je = Math.Min(jb + nb, n);
                int i = ib;
                for (; i + tileM <= ie; i += tileM)
                {
                    int j = jb;
                    for (; j + tileN <= je; j += tileN) tile(a + (long)i * lda, lda, b + (long)j * ldb, ldb, bias, wsum, c + (long)i * ldc + j, ldc, j, k);
                    for (; j < je; j++)
                        for (int r = 0; r < tileM; r++) c[(long)(i + r) * ldc + j] = Edge(dot(a + (long)(i + r) * lda, b + (long)j * ldb, k), bias, wsum, j);
                }
                for (; i < ie; i++)
                    for (int j = jb; j < je; j++) c[(long)i * ldc + j] = Edge(dot(a + (long)i * lda, b + (long)j * ldb, k), bias, wsum, j);
            }
        }
    }

    /// <summary>Per-column terms: the bias, and −128·Σw when A was offset to u8 (7-bit weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Edge(int sum, int* bias, int* wsum, int j) => sum + (bias != null ? bias[j] : 0) - (wsum != null ? 128 * wsum[j] : 0);
}
