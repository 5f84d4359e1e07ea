using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Arm64;

/// <summary>
/// <see cref="GemmS4GroupedReference"/> on NEON over the S4Panels8 layout. A block's 4 × 32 packed bytes unpack to
/// sixteen s8 vectors (steps of 4 inputs × 4 columns, nibble − 8). With SDOT each step is one
/// <c>sdot v.4s, w.16b, a.4b[q]</c> against the row's 4 activations of that step; without it, SMULL/SMULL2 and SADALP
/// accumulate pairs of inputs and one ADDP per group folds them. Either way every group's dot product is exact, and the
/// float steps per output (convert, times aScale·bScale, add, groups in order; no fused multiply-add) are the
/// reference's: the same bits.
/// </summary>
internal static unsafe class GemmS4GroupedNeon
{
    [ThreadStatic] private static int[]? t_acc;

    public static void Run(sbyte* a, int lda, float* aScale, byte* b, ushort* bScale, float* c, int ldc, int m, int n, int k, int group, bool dot)
    {
        int groups = (k + group - 1) / group, kb = (k + 31) / 32, panelBytes = kb * 128;
        // Per row the int32 lanes of the open group: 8 (SDOT: columns 0..7) or 16 (pairs of inputs per column).
        int* iacc = WideningScratch.Aligned(ref t_acc, m * 16);
        sbyte* tail = stackalloc sbyte[32];
        int* lanes = stackalloc int[8];
        var low4 = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((sbyte)8);
        var w = stackalloc Vector128<sbyte>[16]; // [quad, lo/hi, column half]
        for (int j0 = 0; j0 < n; j0 += 8)
        {
            int cols = Math.Min(8, n - j0);
            byte* panel = b + (long)(j0 / 8) * panelBytes;
            for (int g = 0; g < groups; g++)
            {
                int b0 = g * group / 32, b1 = Math.Min(kb, (g + 1) * group / 32);
                for (int blk = b0; blk < b1; blk++)
                {
                    byte* src = panel + (long)blk * 128;
                    for (int q = 0; q < 4; q++)
                        for (int half = 0; half < 2; half++)
                        {
                            var v = AdvSimd.LoadVector128(src + q * 32 + half * 16);
                            w[q * 4 + half] = (v & low4).AsSByte() - eight;                                          // inputs 4q..4q+3
                            w[q * 4 + 2 + half] = AdvSimd.ShiftRightLogical(v, 4).AsSByte() - eight;                 // inputs 16+4q..
                        }
                    bool first = blk == b0;
                    for (int i = 0; i < m; i++)
                    {
                        sbyte* ap = GemmS4GroupedReference.Block(a + (long)i * lda, blk, k, tail);
                        var a0 = AdvSimd.LoadVector128(ap);
                        var a1 = AdvSimd.LoadVector128(ap + 16);
                        int* acc = iacc + i * 16;
                        if (dot)
                        {
                            Vector128<int> c0 = first ? default : AdvSimd.LoadVector128(acc), c1 = first ? default : AdvSimd.LoadVector128(acc + 4);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[0], a0, 0); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[1], a0, 0);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[2], a1, 0); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[3], a1, 0);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[4], a0, 1); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[5], a0, 1);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[6], a1, 1); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[7], a1, 1);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[8], a0, 2); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[9], a0, 2);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[10], a1, 2); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[11], a1, 2);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[12], a0, 3); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[13], a0, 3);
                            c0 = Dp.DotProductBySelectedQuadruplet(c0, w[14], a1, 3); c1 = Dp.DotProductBySelectedQuadruplet(c1, w[15], a1, 3);
                            AdvSimd.Store(acc, c0);
                            AdvSimd.Store(acc + 4, c1);
                            continue;
                        }
                        // Without SDOT: products of the 4 broadcast activations with 2 columns per 64-bit half, pairs added
                        // into int32 lanes [c·k01, c·k23, c'·k01, c'·k23]; accumulators for columns (0,1) (2,3) (4,5) (6,7).
                        Vector128<int> p01 = first ? default : AdvSimd.LoadVector128(acc), p23 = first ? default : AdvSimd.LoadVector128(acc + 4);
                        Vector128<int> p45 = first ? default : AdvSimd.LoadVector128(acc + 8), p67 = first ? default : AdvSimd.LoadVector128(acc + 12);
                        var ai0 = a0.AsInt32();
                        var ai1 = a1.AsInt32();
                        Step(ref p01, ref p23, ref p45, ref p67, w, 0, AdvSimd.DuplicateSelectedScalarToVector128(ai0, 0).AsSByte(), AdvSimd.DuplicateSelectedScalarToVector128(ai1, 0).AsSByte());
                        Step(ref p01, ref p23, ref p45, ref p67, w, 1, AdvSimd.DuplicateSelectedScalarToVector128(ai0, 1).AsSByte(), AdvSimd.DuplicateSelectedScalarToVector128(ai1, 1).AsSByte());
                        Step(ref p01, ref p23, ref p45, ref p67, w, 2, AdvSimd.DuplicateSelectedScalarToVector128(ai0, 2).AsSByte(), AdvSimd.DuplicateSelectedScalarToVector128(ai1, 2).AsSByte());
                        Step(ref p01, ref p23, ref p45, ref p67, w, 3, AdvSimd.DuplicateSelectedScalarToVector128(ai0, 3).AsSByte(), AdvSimd.DuplicateSelectedScalarToVector128(ai1, 3).AsSByte());
                        AdvSimd.Store(acc, p01);
                        AdvSimd.Store(acc + 4, p23);
                        AdvSimd.Store(acc + 8, p45);
                        AdvSimd.Store(acc + 12, p67);
                    }
                }
                // The group is complete: its exact dot products, then the reference's float steps.
                for (int i = 0; i < m; i++)
                {
                    int* acc = iacc + i * 16;
                    Vector128<int> d0, d1;
                    if (dot) (d0, d1) = (AdvSimd.LoadVector128(acc), AdvSimd.LoadVector128(acc + 4));
                    else
                    {
                        d0 = AdvSimd.Arm64.AddPairwise(AdvSimd.LoadVector128(acc), AdvSimd.LoadVector128(acc + 4));
                        d1 = AdvSimd.Arm64.AddPairwise(AdvSimd.LoadVector128(acc + 8), AdvSimd.LoadVector128(acc + 12));
                    }
                    float* cr = c + (long)i * ldc + j0;
                    ushort* bs = bScale + ((long)(j0 / 8) * groups + g) * 8; // this panel's 8 scales of group g (bfloat16)
                    if (cols == 8)
                    {
                        var sa = Vector128.Create(aScale[i]);
                        var s01 = AdvSimd.LoadVector128(bs); // 8 bfloat16 zipped under zeros: the upper halves of 8 floats (exact)
                        var sc0 = AdvSimd.Arm64.ZipLow(Vector128<ushort>.Zero, s01).AsSingle();
                        var sc1 = AdvSimd.Arm64.ZipHigh(Vector128<ushort>.Zero, s01).AsSingle();
                        var prod0 = AdvSimd.Multiply(AdvSimd.ConvertToSingle(d0), AdvSimd.Multiply(sa, sc0));
                        var prod1 = AdvSimd.Multiply(AdvSimd.ConvertToSingle(d1), AdvSimd.Multiply(sa, sc1));
                        AdvSimd.Store(cr, AdvSimd.Add(g == 0 ? Vector128<float>.Zero : AdvSimd.LoadVector128(cr), prod0));
                        AdvSimd.Store(cr + 4, AdvSimd.Add(g == 0 ? Vector128<float>.Zero : AdvSimd.LoadVector128(cr + 4), prod1));
                        continue;
                    }
                    AdvSimd.Store(lanes, d0); // the last, partial panel: the same float steps, one column at a time
                    AdvSimd.Store(lanes + 4, d1);
                    for (int t = 0; t < cols; t++) cr[t] = (g == 0 ? 0f : cr[t]) + lanes[t] * (aScale[i] * GemmS4GroupedReference.Bf16(bs[t]));
                }
            }
        }
    }

    /// <summary>One quad q without SDOT: inputs 4q..4q+3 (x0 broadcast) and 16+4q.. (x1) times the block's weights.</summary>
    private static void Step(ref Vector128<int> p01, ref Vector128<int> p23, ref Vector128<int> p45, ref Vector128<int> p67,
        Vector128<sbyte>* w, int q, Vector128<sbyte> x0, Vector128<sbyte> x1)
    {
        Vector128<sbyte> wl0 = w[q * 4], wl1 = w[q * 4 + 1], wh0 = w[q * 4 + 2], wh1 = w[q * 4 + 3];
        p01 = AdvSimd.AddPairwiseWideningAndAdd(p01, AdvSimd.MultiplyWideningLower(wl0.GetLower(), x0.GetLower()));
        p23 = AdvSimd.AddPairwiseWideningAndAdd(p23, AdvSimd.MultiplyWideningUpper(wl0, x0));
        p45 = AdvSimd.AddPairwiseWideningAndAdd(p45, AdvSimd.MultiplyWideningLower(wl1.GetLower(), x0.GetLower()));
        p67 = AdvSimd.AddPairwiseWideningAndAdd(p67, AdvSimd.MultiplyWideningUpper(wl1, x0));
        p01 = AdvSimd.AddPairwiseWideningAndAdd(p01, AdvSimd.MultiplyWideningLower(wh0.GetLower(), x1.GetLower()));
        p23 = AdvSimd.AddPairwiseWideningAndAdd(p23, AdvSimd.MultiplyWideningUpper(wh0, x1));
        p45 = AdvSimd.AddPairwiseWideningAndAdd(p45, AdvSimd.MultiplyWideningLower(wh1.GetLower(), x1.GetLower()));
        p67 = AdvSimd.AddPairwiseWideningAndAdd(p67, AdvSimd.MultiplyWideningUpper(wh1, x1));
    }
}
