using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// <see cref="GemmS4GroupedReference"/> on AVX2 over the S4Panels8 layout: per 32-input block of a panel, four 32-byte
/// loads give eight steps of (4 inputs × 8 columns) as offset-binary nibbles u = w + 8; each step is one vpmaddubsw of
/// u against the row's 4 activations broadcast, the eight int16 results added (|Σ| ≤ 8 · 2 · 15 · 127 &lt; 2^15) and
/// widened by one vpmaddwd: one int32 lane per column, no horizontal reductions. A group's exact dot product is that
/// sum minus 8 · Σ a over the group. The float steps per output (convert, times aScale·bScale, add, groups in order)
/// are the reference's, without FMA: the same bits.
/// </summary>
internal static unsafe class GemmS4GroupedAvx2
{
    [ThreadStatic] private static int[]? t_sums;

    public static void Run(sbyte* a, int lda, float* aScale, byte* b, ushort* bScale, float* c, int ldc, int m, int n, int k, int group)
    {
        int groups = (k + group - 1) / group, kb = (k + 31) / 32, panelBytes = kb * 128;
        // Per row and group: 8 · Σ a (the offset-binary correction); then per row the int32 lanes of the open group.
        int* asum = WideningScratch.Aligned(ref t_sums, m * groups + m * 8);
        int* iacc = asum + m * groups;
        for (int i = 0; i < m; i++)
            for (int g = 0; g < groups; g++)
            {
                int s = 0;
                for (int p = g * group, end = Math.Min(k, (g + 1) * group); p < end; p++) s += a[(long)i * lda + p];
                asum[i * groups + g] = 8 * s;
            }
        sbyte* tail = stackalloc sbyte[32];
        int* lanes = stackalloc int[8];
        var low4 = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        if (m == 1 && k % 32 == 0)
        {
            RowM1(a, aScale[0], b, bScale, c, n, k, group, asum);
            return;
        }
        for (int j0 = 0; j0 < n; j0 += 8)
        {
            int cols = Math.Min(8, n - j0);
            byte* panel = b + (long)(j0 / 8) * panelBytes;
            for (int g = 0; g < groups; g++)
            {
                int b0 = g * group / 32, b1 = Math.Min(kb, (g + 1) * group / 32);
                ushort* ps = bScale + ((long)(j0 / 8) * groups + g) * 8; // this panel's 8 scales of group g
                var bs = Scales8(ps);
                for (int blk = b0; blk < b1; blk++)
                {
                    byte* w = panel + (long)blk * 128;
                    var q0 = Avx.LoadVector256(w);
                    var q1 = Avx.LoadVector256(w + 32);
                    var q2 = Avx.LoadVector256(w + 64);
                    var q3 = Avx.LoadVector256(w + 96);
                    var l0 = q0 & low4; var h0 = Avx2.ShiftRightLogical(q0.AsUInt16(), 4).AsByte() & low4;
                    var l1 = q1 & low4; var h1 = Avx2.ShiftRightLogical(q1.AsUInt16(), 4).AsByte() & low4;
                    var l2 = q2 & low4; var h2 = Avx2.ShiftRightLogical(q2.AsUInt16(), 4).AsByte() & low4;
                    var l3 = q3 & low4; var h3 = Avx2.ShiftRightLogical(q3.AsUInt16(), 4).AsByte() & low4;
                    bool first = blk == b0;
                    for (int i = 0; i < m; i++)
                    {
                        sbyte* ap = GemmS4GroupedReference.Block(a + (long)i * lda, blk, k, tail);
                        int* x = (int*)ap;
                        var s16 = Avx2.MultiplyAddAdjacent(l0, Vector256.Create(x[0]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(h0, Vector256.Create(x[4]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(l1, Vector256.Create(x[1]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(h1, Vector256.Create(x[5]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(l2, Vector256.Create(x[2]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(h2, Vector256.Create(x[6]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(l3, Vector256.Create(x[3]).AsSByte())
                            + Avx2.MultiplyAddAdjacent(h3, Vector256.Create(x[7]).AsSByte());
                        var s32 = Avx2.MultiplyAddAdjacent(s16, ones);
                        int* acc = iacc + i * 8;
                        Avx.Store(acc, first ? s32 : Avx.LoadVector256(acc) + s32);
                    }
                }
                // The group is complete: its exact dot products, then the reference's float steps (a separate loop keeps
                // the eight weight vectors of the row loop above in registers).
                for (int i = 0; i < m; i++)
                {
                    var dots = Avx.LoadVector256(iacc + i * 8) - Vector256.Create(asum[i * groups + g]);
                    float* cr = c + (long)i * ldc + j0;
                    if (cols == 8)
                    {
                        var prod = Avx.Multiply(Avx.ConvertToVector256Single(dots), Avx.Multiply(Vector256.Create(aScale[i]), bs));
                        Avx.Store(cr, Avx.Add(g == 0 ? Vector256<float>.Zero : Avx.LoadVector256(cr), prod));
                        continue;
                    }
                    Avx.Store(lanes, dots); // the last, partial panel: the same float steps, one column at a time
                    for (int t = 0; t < cols; t++) cr[t] = (g == 0 ? 0f : cr[t]) + lanes[t] * (aScale[i] * GemmS4GroupedReference.Bf16(ps[t]));
                }
            }
        }
    }

    /// <summary>
    /// One activation row (decode, M = 1) with K a multiple of 32: each panel's int32 and float sums stay in registers
    /// across the blocks and groups (the general path keeps them in memory to serve many rows).
    /// </summary>
    private static void RowM1(sbyte* a, float aScale, byte* b, ushort* bScale, float* c, int n, int k, int group, int* asum)
    {
        int kb = k / 32, groups = (k + group - 1) / group, bpg = group / 32, panelBytes = kb * 128;
        var low4 = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        var sa = Vector256.Create(aScale);
        int* x = (int*)a;
        int* lanes = stackalloc int[8];
        for (int j0 = 0; j0 < n; j0 += 8)
        {
            byte* w = b + (long)(j0 / 8) * panelBytes;
            bool full = n - j0 >= 8;
            ushort* ps = bScale + (long)(j0 / 8) * groups * 8; // this panel's scales, 8 per group
            var facc = Vector256<float>.Zero;
            for (int g = 0, blk = 0; g < groups; g++)
            {
                var isum = Vector256<int>.Zero;
                for (int end = Math.Min(kb, blk + bpg); blk < end; blk++, w += 128)
                {
                    int* xb = x + blk * 8;
                    var q0 = Avx.LoadVector256(w);
                    var q1 = Avx.LoadVector256(w + 32);
                    var q2 = Avx.LoadVector256(w + 64);
                    var q3 = Avx.LoadVector256(w + 96);
                    var s16 = Avx2.MultiplyAddAdjacent(q0 & low4, Vector256.Create(xb[0]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(q0.AsUInt16(), 4).AsByte() & low4, Vector256.Create(xb[4]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(q1 & low4, Vector256.Create(xb[1]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(q1.AsUInt16(), 4).AsByte() & low4, Vector256.Create(xb[5]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(q2 & low4, Vector256.Create(xb[2]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(q2.AsUInt16(), 4).AsByte() & low4, Vector256.Create(xb[6]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(q3 & low4, Vector256.Create(xb[3]).AsSByte())
                        + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(q3.AsUInt16(), 4).AsByte() & low4, Vector256.Create(xb[7]).AsSByte());
                    isum += Avx2.MultiplyAddAdjacent(s16, ones);
                }
                var dots = Avx.ConvertToVector256Single(isum - Vector256.Create(asum[g]));
                if (full) facc = Avx.Add(facc, Avx.Multiply(dots, Avx.Multiply(sa, Scales8(ps + g * 8))));
                else
                {
                    // The last, partial panel: the same float steps, one column at a time (scales past n are not read).
                    var d = Avx.ConvertToVector256Int32WithTruncation(dots);
                    Avx.Store(lanes, d);
                    for (int t = 0; t < n - j0; t++) c[j0 + t] = (g == 0 ? 0f : c[j0 + t]) + lanes[t] * (aScale * GemmS4GroupedReference.Bf16(ps[g * 8 + t]));
                }
            }
            if (full) Avx.Store(c + j0, facc);
        }
    }

    /// <summary>Eight bfloat16 scales as floats: zero-extend to 32 bits, shift into the upper half (exact).</summary>
    internal static Vector256<float> Scales8(ushort* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(p)), 16).AsSingle();
}
