namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// s8 activations × 4-bit weights with one scale per output channel and group of K, into float (the linears of
/// decoder LLMs, whose activations are quantized per row at run time):
/// C[i, j] = Σ_g float(Σ_{k ∈ g} A[i, k]·B[j, k]) · (aScale[i] · bScale[g, j]), the groups added in order from
/// 0 to their count, each product and sum rounded to float (no fused multiply-add). Every group's integer dot product
/// is exact, so SIMD paths that form it in any order and then do the same float steps per output give the same bits.
/// B is packed as <see cref="GemmS4Reference"/> (S4Blocks32, row stride <c>ldb</c> bytes); <c>bScale</c> and the group
/// weight sums <c>gsum</c> are [groups, ldg] (column j of group g at g·ldg + j).
/// </summary>
public static class GemmS4GroupedReference
{
    /// <summary>See the class remarks; <paramref name="group"/> is a multiple of 32, the last group may be shorter.</summary>
    public static void Gemm(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<float> aScale, ReadOnlySpan<byte> b, int ldb,
        ReadOnlySpan<float> bScale, ReadOnlySpan<int> gsum, int ldg, Span<float> c, int ldc, int m, int n, int k, int group)
    {
        Check(a.Length, lda, aScale.Length, b.Length, ldb, bScale.Length, gsum.Length, ldg, c.Length, ldc, m, n, k, group);
        int groups = (k + group - 1) / group;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<byte> br = b.Slice(j * ldb, GemmS4Reference.RowBytes(k));
                float acc = 0f;
                for (int g = 0; g < groups; g++)
                {
                    int dot = 0;
                    for (int p = g * group; p < Math.Min(k, (g + 1) * group); p++) dot += a[i * lda + p] * GemmS4Reference.Get(br, p);
                    acc += dot * (aScale[i] * bScale[g * ldg + j]);
                }
                c[i * ldc + j] = acc;
            }
    }

    /// <summary>Sizes, strides and span lengths (throws <see cref="ArgumentException"/>).</summary>
    public static void Check(int aLen, int lda, int asLen, int bLen, int ldb, int bsLen, int gsLen, int ldg, int cLen, int ldc, int m, int n, int k, int group)
    {
        if (m < 0 || n < 0 || k < 1 || k > GemmS8Reference.MaxK || group < 32 || group % 32 != 0)
            throw new ArgumentOutOfRangeException(nameof(k), $"bad grouped GEMM size m={m} n={n} k={k} group={group}");
        if (m == 0 || n == 0) return;
        int groups = (k + group - 1) / group, rb = GemmS4Reference.RowBytes(k);
        if (lda < k || ldb < rb || ldc < n || ldg < n)
            throw new ArgumentException($"grouped GEMM strides lda={lda} ldb={ldb} ldc={ldc} ldg={ldg} too small for k={k} n={n}");
        if ((long)(m - 1) * lda + k > aLen || asLen < m || (long)(n - 1) * ldb + rb > bLen || (long)(m - 1) * ldc + n > cLen
            || (long)(groups - 1) * ldg + n > bsLen || (long)(groups - 1) * ldg + n > gsLen)
            throw new ArgumentException("grouped GEMM operand spans are too short for the sizes and strides");
    }
}
