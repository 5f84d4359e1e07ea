namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// 4-bit weights: the packing the converter writes (layout <c>S4Blocks32</c>) and the scalar s8 × s4 → s32 GEMM, the
/// specification of every path. A row of K weights takes <see cref="RowBytes"/> bytes: groups of 32 consecutive
/// weights in 16 bytes, byte i of a group holding weight i in its low nibble and weight i + 16 in its high nibble
/// (two's complement), so one 16-byte load and two nibble masks give 32 weights in order. Padding weights
/// (K up to a multiple of 32) are 0. Weights are symmetric, in [−7, 7] (−8 never occurs).
/// </summary>
public static class GemmS4Reference
{
    /// <summary>Largest magnitude of a 4-bit weight.</summary>
    public const int MaxWeight = 7;

    /// <summary>Bytes per packed row of <paramref name="k"/> weights (a multiple of 16).</summary>
    public static int RowBytes(int k) => (k + 31) / 32 * 16;

    /// <summary>Weight <paramref name="p"/> of a packed row.</summary>
    public static int Get(ReadOnlySpan<byte> row, int p)
    {
        int i = p & 31;
        int b = row[p / 32 * 16 + (i & 15)];
        int nib = i < 16 ? b & 15 : b >> 4;
        return (nib ^ 8) - 8;
    }

    /// <summary>Packs weights [n, k] (each in [−7, 7]) into rows of <see cref="RowBytes"/>(k) bytes.</summary>
    public static byte[] Pack(ReadOnlySpan<sbyte> w, int n, int k)
    {
        int rb = RowBytes(k);
        var packed = new byte[n * rb]; // [n, RowBytes(k)]
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++)
            {
                int v = w[j * k + p];
                if (v is < -MaxWeight or > MaxWeight) throw new ArgumentOutOfRangeException(nameof(w), $"4-bit weight {v} at [{j}, {p}] is outside [-7, 7]");
                int i = p & 31, at = j * rb + p / 32 * 16 + (i & 15);
                packed[at] |= (byte)(i < 16 ? v & 15 : (v & 15) << 4);
            }
        return packed;
    }

    /// <summary>Unpacks <paramref name="rows"/> packed rows (stride <paramref name="ldb"/> bytes) to s8 rows of stride <paramref name="ldd"/>, K rounded up to 32.</summary>
    public static void UnpackRows(ReadOnlySpan<byte> b, int ldb, Span<sbyte> dst, int ldd, int rows, int k)
    {
        int kp = RowBytes(k) * 2;
        for (int j = 0; j < rows; j++)
        {
            ReadOnlySpan<byte> row = b.Slice(j * ldb, kp / 2);
            for (int p = 0; p < kp; p++) dst[j * ldd + p] = (sbyte)Get(row, p);
        }
    }

    /// <summary>
    /// s8 × s4 → s32, NT form: C[m, n] = bias[n] + Σ_k A[m, k] · B[n, k], B packed as above with row stride
    /// <paramref name="ldb"/> bytes. Same contract as <see cref="GemmS8Reference.GemmS8S8"/>.
    /// </summary>
    public static void GemmS8S4(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias,
        Span<int> c, int ldc, int m, int n, int k)
    {
        Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        int rb = RowBytes(k);
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<sbyte> ar = a.Slice(i * lda, k);
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<byte> br = b.Slice(j * ldb, rb);
                int acc = bias.IsEmpty ? 0 : bias[j];
                for (int p = 0; p < k; p++) acc += ar[p] * Get(br, p);
                c[i * ldc + j] = acc;
            }
        }
    }

    internal static void Check(int m, int n, int k, int lda, int ldb, int ldc, int aLen, int bLen, int cLen, int biasLen) =>
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, aLen, bLen, cLen, biasLen, RowBytes(k));
}
