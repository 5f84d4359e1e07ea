namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Log2-quantized attention probabilities (FQ-ViT's Log-Int-Softmax, Lin et al. 2022): the I-BERT integer softmax of
/// <see cref="SoftmaxFixedPoint"/> gives z_i and Σz, and each probability p = z/Σz is stored as a 4-bit code
/// k = round(−log2 p) in [0, 14] (p̂ = 2^−k), or 15 for p̂ = 0 (p &lt; 2^−14.5). The rounding is decided in integers:
/// k is the largest value with z·2^k ≤ ⌊Σz·46341 / 2^15⌋ (46341 / 2^15 ≈ √2, the geometric midpoint between two
/// powers of two). P·V then needs no multiplies: acc[r, j] = Σ_k V[j, k] · 2^(14 − code[r, k]), at scale 2^−14·s_V.
/// Small probabilities keep relative precision (uniform 4-bit would flush everything below 1/32 to zero), but a
/// dominant probability becomes 1 or 1/2. Base √2 (RepQ-ViT's log√2 quantizer, <c>sqrt2Base</c>) halves the step:
/// k = round(−2·log2 p) in [0, 14] (p̂ = 2^(−k/2), down to 2^−7), decided with thresholds ⌊Σz·2^(±1/4)⌋; its P·V is
/// reparameterized into two power-of-two sums, even codes Σ V·2^(14 − k/2) plus odd codes (Σ V·2^(14 − (k−1)/2)) / √2,
/// the latter multiplied by ⌊2^16/√2⌋ = 46341 and rounded (>> 16): still no per-element multiply.
/// </summary>
public static class SoftmaxLog2
{
    /// <summary>Code meaning p̂ = 0.</summary>
    public const int ZeroCode = 15;
    /// <summary>Fractional bits of the P·V accumulator: one unit = 2^−14 · s_V.</summary>
    public const int FracBits = 14;
    /// <summary>Scale of p̂ in the P·V accumulator.</summary>
    public const double OutputScale = 1.0 / (1 << FracBits);
    /// <summary>Longest row: |acc| ≤ T · 127 · 2^14 must fit int32.</summary>
    public const int MaxRow = 1024;

    private const long Sqrt2Q15 = 46341, FourthRoot2Q15 = 38968, InvFourthRoot2Q15 = 27554, InvSqrt2Q16 = 46341;

    /// <summary>One row of scores → 4-bit log2 (or log√2) codes, one per byte. Same input domain as <see cref="SoftmaxFixedPoint.Row"/>.</summary>
    public static void Row(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> codes, bool sqrt2Base = false)
    {
        int n = acc.Length;
        if (n == 0) return;
        if (n > MaxRow) throw new ArgumentOutOfRangeException(nameof(acc), $"log2 softmax row of {n} exceeds {MaxRow}");
        if (scratch.Length < n || codes.Length < n) throw new ArgumentException("softmax scratch/output shorter than the row");
        Span<int> x = scratch[..n]; // [n] exponentials of the integer softmax
        long sum = SoftmaxFixedPoint.Exponentials(acc, multiplier, shift, x);
        if (sqrt2Base)
        {
            long even = sum * FourthRoot2Q15 >> 15, odd = sum * InvFourthRoot2Q15 >> 15; // ⌊Σz·2^(1/4)⌋, ⌊Σz·2^(−1/4)⌋
            for (int i = 0; i < n; i++) codes[i] = CodeSqrt2(x[i], even, odd);
            return;
        }
        long threshold = sum * Sqrt2Q15 >> 15; // ⌊√2·Σz⌋ (Σz < 2^31)
        for (int i = 0; i < n; i++) codes[i] = Code(x[i], threshold);
    }

    /// <summary>
    /// Base √2: the largest k with z·(√2)^k ≤ 2^(1/4)·Σz (k = round(−2·log2 p)), i.e. z·2^m ≤ ⌊Σz·2^(1/4)⌋ for k = 2m and
    /// z·2^m ≤ ⌊Σz·2^(−1/4)⌋ for k = 2m + 1; <see cref="ZeroCode"/> when k would exceed 14.
    /// </summary>
    public static byte CodeSqrt2(long z, long even, long odd)
    {
        if (z <= 0) return ZeroCode;
        int k = 0;
        while (k < ZeroCode && (z << ((k + 1) >> 1)) <= ((k + 1) % 2 == 0 ? even : odd)) k++;
        return (byte)k;
    }

    /// <summary>The largest k with z·2^k ≤ <paramref name="threshold"/> (= ⌊√2·Σz⌋, so k = round(−log2 p)); <see cref="ZeroCode"/> when k would exceed 14.</summary>
    public static byte Code(long z, long threshold)
    {
        if (z <= 0) return ZeroCode;
        // k = −round(log2(z/Σz)) ≥ 0: the largest k with z·2^k ≤ √2·Σz.
        if (z > threshold) return 0; // cannot happen (z ≤ Σz), kept for safety
        int k = 0;
        while (k < FracBits + 1 && (z << (k + 1)) <= threshold) k++;
        return k > FracBits ? (byte)ZeroCode : (byte)k;
    }

    /// <summary>
    /// acc[m, n] = Σ_k B[n, k] · 2^(14 − codes[m, k]) (codes of 15 contribute nothing), B stored [N, K] (V transposed per head);
    /// base √2: even + ((odd · 46341 + 2^15) >> 16) as described above.
    /// </summary>
    public static void GemmCodesS8(ReadOnlySpan<byte> codes, int ldc8, ReadOnlySpan<sbyte> b, int ldb, Span<int> c, int ldc, int m, int n, int k, bool sqrt2Base = false)
    {
        if (m == 0 || n == 0) return;
        if (k > MaxRow) throw new ArgumentOutOfRangeException(nameof(k), $"log2 P·V over {k} keys exceeds {MaxRow}");
        GemmS8Reference.Check(m, n, k, ldc8, ldb, ldc, codes.Length, b.Length, c.Length, 0);
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<byte> row = codes.Slice(i * ldc8, k);
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<sbyte> br = b.Slice(j * ldb, k);
                int acc = 0;
                if (sqrt2Base)
                {
                    int odd = 0;
                    for (int p = 0; p < k; p++)
                    {
                        int code = row[p];
                        if (code >= ZeroCode) continue;
                        if ((code & 1) == 0) acc += br[p] << (FracBits - code / 2);
                        else odd += br[p] << (FracBits - code / 2);
                    }
                    acc += (int)((odd * InvSqrt2Q16 + (1L << 15)) >> 16);
                }
                else
                    for (int p = 0; p < k; p++)
                        if (row[p] < ZeroCode) acc += br[p] << (FracBits - row[p]);
                c[i * ldc + j] = acc;
            }
        }
    }
}
