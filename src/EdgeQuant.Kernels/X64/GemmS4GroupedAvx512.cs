using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// <see cref="GemmS4GroupedAvx2"/> with zmm registers: two panels (16 columns) per step for M > 1, the 32-byte quads of panel
/// p and p + 1 side by side in one zmm, so each vpmaddubsw covers 4 inputs × 16 columns. Columns past the last full
/// pair of panels go to the AVX2 kernel. Same exact group sums and the same float steps per output: the same bits.
/// </summary>
internal static unsafe class GemmS4GroupedAvx512
{
    [ThreadStatic] private static int[]? t_sums;

    public static void Run(sbyte* a, int lda, float* aScale, byte* b, ushort* bScale, float* c, int ldc, int m, int n, int k, int group)
    {
        // One row (decode): the ymm kernel's single sequential weight stream beats two panels per zmm, which reads two
        // streams a panel apart (A/B, TinyLlama-1.1B W4 decode on Zen 5: 29.9 vs 22.0 tokens/s; 24.7 with prefetching).
        if (m == 1 && k % 32 == 0)
        {
            GemmS4GroupedAvx2.Run(a, lda, aScale, b, bScale, c, ldc, m, n, k, group);
            return;
        }
        int pairs = n / 16 * 16;
        if (pairs > 0)
        {
            int groups = (k + group - 1) / group;
            int* asum = WideningScratch.Aligned(ref t_sums, m * groups + m * 16);
            for (int i = 0; i < m; i++)
                for (int g = 0; g < groups; g++)
                {
                    int s = 0;
                    for (int p = g * group, end = Math.Min(k, (g + 1) * group); p < end; p++) s += a[(long)i * lda + p];
                    asum[i * groups + g] = 8 * s;
                }
            Rows(a, lda, aScale, b, bScale, c, ldc, m, pairs, k, group, asum, asum + m * groups);
        }
        if (pairs < n)
        {
            int pb = (k + 31) / 32 * 128, groups = (k + group - 1) / group;
            GemmS4GroupedAvx2.Run(a, lda, aScale, b + (long)(pairs / 8) * pb, bScale + (long)(pairs / 8) * groups * 8, c + pairs, ldc, m, n - pairs, k, group);
        }
    }

    /// <summary>Group g's scales of panels p and p + 1 (16 columns).</summary>
    private static Vector512<float> Scales(ushort* bScale, int panel, int groups, int g) =>
        Vector512.Create(GemmS4GroupedAvx2.Scales8(bScale + ((long)panel * groups + g) * 8), GemmS4GroupedAvx2.Scales8(bScale + ((long)(panel + 1) * groups + g) * 8));

    /// <summary>The 8 weight steps of one block of panels p and p + 1: quad q's low nibbles (inputs 4q..) and high nibbles (16 + 4q..).</summary>
    private static Vector512<byte> Quad(byte* w0, byte* w1, int q) =>
        Vector512.Create(Avx.LoadVector256(w0 + q * 32), Avx.LoadVector256(w1 + q * 32));

    private static void Rows(sbyte* a, int lda, float* aScale, byte* b, ushort* bScale, float* c, int ldc, int m, int n, int k, int group, int* asum, int* iacc)
    {
        int groups = (k + group - 1) / group, kb = (k + 31) / 32, panelBytes = kb * 128;
        sbyte* tail = stackalloc sbyte[32];
        var low4 = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        for (int j0 = 0; j0 < n; j0 += 16)
        {
            byte* p0 = b + (long)(j0 / 8) * panelBytes, p1 = p0 + panelBytes;
            for (int g = 0; g < groups; g++)
            {
                int b0 = g * group / 32, b1 = Math.Min(kb, (g + 1) * group / 32);
                var bs = Scales(bScale, j0 / 8, groups, g);
                bool single = b1 - b0 == 1; // a one-block group (groups of 32) is finished in the row loop: no int32 round trip
                for (int blk = b0; blk < b1; blk++)
                {
                    byte* w0 = p0 + (long)blk * 128, w1 = p1 + (long)blk * 128;
                    var q0 = Quad(w0, w1, 0); var q1 = Quad(w0, w1, 1); var q2 = Quad(w0, w1, 2); var q3 = Quad(w0, w1, 3);
                    var l0 = q0 & low4; var h0 = Avx512BW.ShiftRightLogical(q0.AsUInt16(), 4).AsByte() & low4;
                    var l1 = q1 & low4; var h1 = Avx512BW.ShiftRightLogical(q1.AsUInt16(), 4).AsByte() & low4;
                    var l2 = q2 & low4; var h2 = Avx512BW.ShiftRightLogical(q2.AsUInt16(), 4).AsByte() & low4;
                    var l3 = q3 & low4; var h3 = Avx512BW.ShiftRightLogical(q3.AsUInt16(), 4).AsByte() & low4;
                    bool first = blk == b0;
                    for (int i = 0; i < m; i++)
                    {
                        sbyte* ap = GemmS4GroupedReference.Block(a + (long)i * lda, blk, k, tail);
                        int* x = (int*)ap;
                        var s16 = Avx512BW.MultiplyAddAdjacent(l0, Vector512.Create(x[0]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(h0, Vector512.Create(x[4]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(l1, Vector512.Create(x[1]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(h1, Vector512.Create(x[5]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(l2, Vector512.Create(x[2]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(h2, Vector512.Create(x[6]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(l3, Vector512.Create(x[3]).AsSByte())
                            + Avx512BW.MultiplyAddAdjacent(h3, Vector512.Create(x[7]).AsSByte());
                        var s32 = Avx512BW.MultiplyAddAdjacent(s16, ones);
                        if (single)
                        {
                            Finish(s32, asum[i * groups + g], aScale[i], bs, c + (long)i * ldc + j0, g == 0);
                            continue;
                        }
                        int* acc = iacc + i * 16;
                        Avx512F.Store(acc, first ? s32 : Avx512F.LoadVector512(acc) + s32);
                    }
                }
                if (single) continue;
                for (int i = 0; i < m; i++)
                    Finish(Avx512F.LoadVector512(iacc + i * 16), asum[i * groups + g], aScale[i], bs, c + (long)i * ldc + j0, g == 0);
            }
        }
    }

    /// <summary>A finished group of 16 columns: exact dots (sums minus 8·Σa), then c = (first ? 0 : c) + dot · (aScale · bScale).</summary>
    private static void Finish(Vector512<int> sums, int asum8, float aScale, Vector512<float> bs, float* cr, bool first)
    {
        var prod = Avx512F.Multiply(Avx512F.ConvertToVector512Single(sums - Vector512.Create(asum8)), Avx512F.Multiply(Vector512.Create(aScale), bs));
        Avx512F.Store(cr, Avx512F.Add(first ? Vector512<float>.Zero : Avx512F.LoadVector512(cr), prod));
    }
}
