namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// s8 activations × 4-bit weights with one scale per output channel and group of K, into float (the linears of
/// decoder LLMs, whose activations are quantized per row at run time):
/// C[i, j] = Σ_g float(Σ_{k ∈ g} A[i, k]·B[j, k]) · (aScale[i] · bScale[g, j]), the groups added in order from
/// 0 to their count, each product and sum rounded to float (no fused multiply-add). Every group's integer dot product
/// is exact, so SIMD paths that form it in any order and then do the same float steps per output give the same bits.
/// B is in the S4Panels8 layout (<see cref="Pack"/>; panels of 8 columns, <see cref="PanelBytes"/> each);
/// <c>bScale</c> holds bfloat16 bits (<see cref="Bf16"/>; a quarter of the weight stream's bytes in f32 would be an
/// eighth in bf16), panel-major like B, [ceil(n/8), groups, 8] (<see cref="ScaleIndex"/>): a panel's scales follow
/// each other in the order its blocks are read, one stream beside the weights.
/// </summary>
public static class GemmS4GroupedReference
{
    /// <summary>Columns per panel.</summary>
    public const int PanelColumns = 8;

    /// <summary>Bytes of one panel (8 columns × K rounded up to 32, half a byte each).</summary>
    public static int PanelBytes(int k) => (k + 31) / 32 * 128;

    /// <summary>A bfloat16 (the upper 16 bits of a binary32) as float: exact.</summary>
    public static float Bf16(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>The bfloat16 nearest to a finite float (ties to even).</summary>
    public static ushort ToBf16(float x)
    {
        uint u = BitConverter.SingleToUInt32Bits(x);
        return (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    }

    /// <summary>Index of the scale of column j, group g in the panel-major scale tensor.</summary>
    public static long ScaleIndex(int j, int g, int groups) => ((long)(j / 8) * groups + g) * 8 + j % 8;

    /// <summary>Byte offset of weight (j, k) inside the packed tensor, and whether it is the high nibble.</summary>
    public static (long Offset, bool High) Locate(int j, int k, int kTotal)
    {
        int r = k % 32, rr = r % 16;
        long offset = (long)(j / 8) * PanelBytes(kTotal) + k / 32 * 128 + rr / 4 * 32 + j % 8 * 4 + rr % 4;
        return (offset, r >= 16);
    }

    /// <summary>Weight (j, k) of a packed tensor.</summary>
    public static int Get(ReadOnlySpan<byte> b, int j, int k, int kTotal)
    {
        var (o, high) = Locate(j, k, kTotal);
        return (high ? b[(int)o] >> 4 : b[(int)o] & 15) - 8;
    }

    /// <summary>Packs weights [n, k] (each in [−7, 7]) into ceil(n/8) panels of <see cref="PanelBytes"/>(k) bytes.</summary>
    public static byte[] Pack(ReadOnlySpan<sbyte> w, int n, int k)
    {
        var packed = new byte[(long)(n + 7) / 8 * PanelBytes(k)];
        packed.AsSpan().Fill(0x88); // padding weights are 0
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++)
            {
                int v = w[j * k + p];
                if (v is < -7 or > 7) throw new ArgumentOutOfRangeException(nameof(w), $"4-bit weight {v} at [{j}, {p}] is outside [-7, 7]");
                var (o, high) = Locate(j, p, k);
                packed[o] = high ? (byte)((packed[o] & 0x0F) | (v + 8) << 4) : (byte)((packed[o] & 0xF0) | (v + 8));
            }
        return packed;
    }

    /// <summary>See the class remarks; <paramref name="group"/> is a multiple of 32, the last group may be shorter.</summary>
    public static void Gemm(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<float> aScale, ReadOnlySpan<byte> b,
        ReadOnlySpan<ushort> bScale, Span<float> c, int ldc, int m, int n, int k, int group)
    {
        Check(a.Length, lda, aScale.Length, b.Length, bScale.Length, c.Length, ldc, m, n, k, group);
        int groups = (k + group - 1) / group;
        Span<sbyte> w = stackalloc sbyte[k]; // column j unpacked (k ≤ 2^16), reused by every row
        for (int j = 0; j < n; j++)
        {
            for (int p = 0; p < k; p++) w[p] = (sbyte)Get(b, j, p, k);
            for (int i = 0; i < m; i++)
            {
                float acc = 0f;
                for (int g = 0; g < groups; g++)
                {
                    int dot = 0;
                    for (int p = g * group; p < Math.Min(k, (g + 1) * group); p++) dot += a[i * lda + p] * w[p];
                    acc += dot * (aScale[i] * Bf16(bScale[(int)ScaleIndex(j, g, groups)]));
                }
                c[i * ldc + j] = acc;
            }
        }
    }

    /// <summary>
    /// The 32 activations of block <paramref name="blk"/> of a row of <paramref name="k"/>: in place, or for a last
    /// partial block a copy zero-padded in <paramref name="tail"/> (32 bytes), so SIMD paths never read past the row.
    /// </summary>
    internal static unsafe sbyte* Block(sbyte* row, int blk, int k, sbyte* tail)
    {
        sbyte* p = row + blk * 32;
        if (blk * 32 + 32 <= k) return p;
        new Span<sbyte>(tail, 32).Clear();
        new ReadOnlySpan<sbyte>(p, k - blk * 32).CopyTo(new Span<sbyte>(tail, 32));
        return tail;
    }

    /// <summary>Sizes, strides and span lengths (throws <see cref="ArgumentException"/>).</summary>
    public static void Check(int aLen, int lda, int asLen, int bLen, int bsLen, int cLen, int ldc, int m, int n, int k, int group)
    {
        if (m < 0 || n < 0 || k < 1 || k > GemmS8Reference.MaxK || group < 32 || group % 32 != 0)
            throw new ArgumentOutOfRangeException(nameof(k), $"bad grouped GEMM size m={m} n={n} k={k} group={group}");
        if (m == 0 || n == 0) return;
        int groups = (k + group - 1) / group;
        if (lda < k || ldc < n)
            throw new ArgumentException($"grouped GEMM strides lda={lda} ldc={ldc} too small for k={k} n={n}");
        if ((long)(m - 1) * lda + k > aLen || asLen < m || (long)(n + 7) / 8 * PanelBytes(k) > bLen || (long)(m - 1) * ldc + n > cLen
            || (long)(n + 7) / 8 * groups * 8 > bsLen)
            throw new ArgumentException("grouped GEMM operand spans are too short for the sizes and strides");
    }
}
