namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Scalar INT8 GEMMs, the specification every SIMD path must equal bit for bit.
/// Form "NT": C[m, n] = bias[n] + Σ_k A[m, k] · B[n, k], with B stored [N, K] (weights as [out, in]).
/// Products and sums are exact in int32 for K ≤ 2^16 (|a·b| ≤ 2^14 for s8×s8, 2^15 for u8×s8).
/// Contract: s8 operands are symmetric, in [−127, 127] (the converter and the quantize/requantize kernels never
/// produce −128); SIMD paths may rely on it (NEON sums two s8 products in 16 bits).
/// </summary>
public static class GemmS8Reference
{
    /// <summary>Largest K for which an int32 accumulator cannot overflow.</summary>
    public const int MaxK = 1 << 16;

    /// <summary>s8 × s8 → s32. Strides are in elements; <paramref name="bias"/> may be empty (no bias).</summary>
    public static void GemmS8S8(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias,
        Span<int> c, int ldc, int m, int n, int k)
    {
        Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<sbyte> ar = a.Slice(i * lda, k);
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<sbyte> br = b.Slice(j * ldb, k);
                int acc = bias.IsEmpty ? 0 : bias[j];
                for (int p = 0; p < k; p++) acc += ar[p] * br[p];
                c[i * ldc + j] = acc;
            }
        }
    }

    /// <summary>u8 × s8 → s32 (attention probabilities × values). Same contract as <see cref="GemmS8S8"/>.</summary>
    public static void GemmU8S8(ReadOnlySpan<byte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias,
        Span<int> c, int ldc, int m, int n, int k)
    {
        Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<byte> ar = a.Slice(i * lda, k);
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<sbyte> br = b.Slice(j * ldb, k);
                int acc = bias.IsEmpty ? 0 : bias[j];
                for (int p = 0; p < k; p++) acc += ar[p] * br[p];
                c[i * ldc + j] = acc;
            }
        }
    }

    /// <summary>
    /// Sizes, strides and spans of an NT GEMM; <paramref name="bRow"/> is the length of one B row in its storage units
    /// (k, or the packed bytes of 4-bit weights; default k).
    /// </summary>
    internal static void Check(int m, int n, int k, int lda, int ldb, int ldc, int aLen, int bLen, int cLen, int biasLen, int bRow = -1)
    {
        if (m < 0 || n < 0 || k < 0 || k > MaxK) throw new ArgumentOutOfRangeException(nameof(k), $"bad GEMM size m={m} n={n} k={k}");
        if (m == 0 || n == 0) return;
        if (bRow < 0) bRow = k;
        if (lda < k || ldb < bRow || ldc < n) throw new ArgumentException($"GEMM strides lda={lda} ldb={ldb} ldc={ldc} too small for k={k} (B rows of {bRow}) n={n}");
        if ((long)(m - 1) * lda + k > aLen || (long)(n - 1) * ldb + bRow > bLen || (long)(m - 1) * ldc + n > cLen)
            throw new ArgumentException("GEMM operand spans are too short for the given sizes and strides");
        if (biasLen != 0 && biasLen < n) throw new ArgumentException($"bias has {biasLen} entries, need {n}");
    }
}
