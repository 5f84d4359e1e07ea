using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// <see cref="GemmS4GroupedReference"/> on AVX2, 8 output columns at a time: a group's 4-bit weights of 8 columns are
/// unpacked once into s8 (stack, ≤ 1 KiB) and reused by every activation row; each row's 32-element steps are
/// vpmaddubsw (activations offset to u8 by +128, corrected with 128 · the group's weight sum) + vpmaddwd, the 8
/// columns' lanes reduced by one vphaddd tree, so every group dot product is exact. The float steps per output (convert,
/// times aScale·bScale, add to the column's sum, groups in order) are the reference's, without FMA: same bits.
/// </summary>
internal static unsafe class GemmS4GroupedAvx2
{
    private const int Cols = 8, MaxGroup = 128;

    public static void Run(sbyte* a, int lda, float* aScale, byte* b, int ldb, float* bScale, int* gsum, int ldg, float* c, int ldc, int m, int n, int k, int group)
    {
        int groups = (k + group - 1) / group, full = n / Cols * Cols;
        sbyte* w = stackalloc sbyte[Cols * MaxGroup];      // [Cols, group] unpacked weights of one group
        sbyte* tail = stackalloc sbyte[32];                // a zero-padded last partial block of activations
        var ones = Vector256.Create((short)1);
        var low4 = Vector256.Create((byte)0x0F);
        var eight = Vector256.Create((sbyte)8);
        var offset = Vector256.Create((byte)0x80);
        for (int j0 = 0; j0 < full; j0 += Cols)
        {
            for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc + j0, Cols).Clear();
            for (int g = 0; g < groups; g++)
            {
                int k0 = g * group, kg = Math.Min(group, k - k0), blocks = (kg + 31) / 32;
                // Unpack: byte t of a 16-byte block holds weight t (low nibble) and t + 16 (high nibble).
                for (int r = 0; r < Cols; r++)
                {
                    byte* src = b + (long)(j0 + r) * ldb + k0 / 2;
                    for (int blk = 0; blk < blocks; blk++)
                    {
                        var v = Sse2.LoadVector128(src + blk * 16);
                        var hi = Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte();
                        var nib = Vector256.Create(v, hi) & low4;
                        var s = Avx2.Subtract((nib.AsSByte() ^ eight), eight);
                        Avx.Store(w + r * MaxGroup + blk * 32, s);
                    }
                }
                var gs = Avx2.ShiftLeftLogical(Avx.LoadVector256(gsum + (long)g * ldg + j0), 7); // 128 · Σ w of the group, per column
                var bs = Avx.LoadVector256(bScale + (long)g * ldg + j0);
                for (int i = 0; i < m; i++)
                {
                    sbyte* ar = a + (long)i * lda + k0;
                    Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
                    for (int blk = 0; blk < blocks; blk++)
                    {
                        sbyte* ap = ar + blk * 32;
                        if (blk * 32 + 32 > kg)
                        {
                            new Span<sbyte>(tail, 32).Clear();
                            new ReadOnlySpan<sbyte>(ap, kg - blk * 32).CopyTo(new Span<sbyte>(tail, 32));
                            ap = tail;
                        }
                        var au = Avx.LoadVector256((byte*)ap) ^ offset;
                        sbyte* wb = w + blk * 32;
                        s0 += Dot(au, wb, ones);
                        s1 += Dot(au, wb + MaxGroup, ones);
                        s2 += Dot(au, wb + 2 * MaxGroup, ones);
                        s3 += Dot(au, wb + 3 * MaxGroup, ones);
                        s4 += Dot(au, wb + 4 * MaxGroup, ones);
                        s5 += Dot(au, wb + 5 * MaxGroup, ones);
                        s6 += Dot(au, wb + 6 * MaxGroup, ones);
                        s7 += Dot(au, wb + 7 * MaxGroup, ones);
                    }
                    var s0123 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s0, s1), Avx2.HorizontalAdd(s2, s3));
                    var s4567 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s4, s5), Avx2.HorizontalAdd(s6, s7));
                    var dots = Avx2.Permute2x128(s0123, s4567, 0x20) + Avx2.Permute2x128(s0123, s4567, 0x31) - gs;
                    float* cr = c + (long)i * ldc + j0;
                    var prod = Avx.Multiply(Avx.ConvertToVector256Single(dots), Avx.Multiply(Vector256.Create(aScale[i]), bs));
                    Avx.Store(cr, Avx.Add(Avx.LoadVector256(cr), prod));
                }
            }
        }
        if (full < n) // the last n % 8 columns: the reference
            GemmS4GroupedReference.Gemm(new ReadOnlySpan<sbyte>(a, (m - 1) * lda + k), lda, new ReadOnlySpan<float>(aScale, m),
                new ReadOnlySpan<byte>(b + (long)full * ldb, (n - full - 1) * ldb + GemmS4Reference.RowBytes(k)), ldb,
                new ReadOnlySpan<float>(bScale + full, (groups - 1) * ldg + n - full), new ReadOnlySpan<int>(gsum + full, (groups - 1) * ldg + n - full), ldg,
                new Span<float>(c + full, (m - 1) * ldc + n - full), ldc, m, n - full, k, group);
    }

    private static Vector256<int> Dot(Vector256<byte> au, sbyte* w, Vector256<short> ones) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(au, Avx.LoadVector256(w)), ones);
}
