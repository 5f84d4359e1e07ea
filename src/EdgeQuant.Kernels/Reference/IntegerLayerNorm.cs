namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Integer-only profile (I-BERT style): LayerNorm of an int32 residual stream with integer arithmetic only, and the
/// integer residual add. The spec for every ISA (all of it is exact integer arithmetic, so any port gives the same bits).
/// </summary>
/// <remarks>
/// Per row of D values x (int32, one scale S for the whole stream): μ = round(Σx / D); c = x − μ; σ = isqrt(⌊Σc² / D⌋ + ε)
/// (ε = LayerNorm ε / S²); n = round(c · 2^16 / σ), the normalized value with 16 fraction bits (|n| ≤ √D · 2^16);
/// y_j = (n · G_j + B_j + 2^(s_j − 1)) >> s_j saturated to the output type, where the converter encodes
/// γ_j / s_out and β_j / s_out as G_j = round(γ_j / s_out · 2^(s_j − 16)), B_j = round(β_j / s_out · 2^s_j).
/// The parameters are one int32 tensor [3, D]: rows G, B, s.
/// </remarks>
public static class IntegerLayerNorm
{
    /// <summary>Fraction bits of the normalized value.</summary>
    public const int NormBits = 16;

    /// <summary>Floor of the square root of a non-negative 64-bit integer (Newton's method from above; exact).</summary>
    public static long ISqrt(long v)
    {
        if (v < 0) throw new ArgumentOutOfRangeException(nameof(v));
        if (v < 2) return v;
        long x = (long)Math.Sqrt(v); // a start near the root; corrected below to the exact floor
        while (x * x > v) x--;
        while ((x + 1) * (x + 1) <= v) x++;
        return x;
    }

    /// <summary>round(a / b) for b &gt; 0, halves away from zero.</summary>
    public static long RoundDiv(long a, long b) => a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b);

    /// <summary>
    /// Rows of int32 x → int8 y8 (params p8 [3, D]) and/or int32 y32 (params p32 [3, D]); either output may be empty.
    /// <paramref name="epsQ"/> = ε / S² rounded (≥ 1 keeps σ positive).
    /// </summary>
    public static void Rows(ReadOnlySpan<int> x, long epsQ, ReadOnlySpan<int> p8, Span<sbyte> y8, ReadOnlySpan<int> p32, Span<int> y32, int rows, int d)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<int> xr = x.Slice(r * d, d);
            long sum = 0;
            foreach (int v in xr) sum += v;
            long mean = RoundDiv(sum, d);
            long ss = 0;
            foreach (int v in xr) ss += (v - mean) * (v - mean);
            long sigma = Math.Max(1, ISqrt(ss / d + epsQ));
            for (int j = 0; j < d; j++)
            {
                long n = RoundDiv((xr[j] - mean) << NormBits, sigma);
                if (!y8.IsEmpty) y8[r * d + j] = (sbyte)Math.Clamp(Affine(n, p8, j, d), -127, 127);
                if (!y32.IsEmpty) y32[r * d + j] = (int)Math.Clamp(Affine(n, p32, j, d), int.MinValue, int.MaxValue);
            }
        }
    }

    private static long Affine(long n, ReadOnlySpan<int> p, int j, int d)
    {
        int s = p[2 * d + j];
        return (n * p[j] + p[d + j] + (1L << (s - 1))) >> s;
    }

    /// <summary>
    /// Encodes γ/s_out, β/s_out as the [3, D] parameters (G, B, shift) with the largest shift in [NormBits − 14, 62]
    /// for which |G| &lt; 2^30 and |B| &lt; 2^31 (precision as high as int32 allows).
    /// </summary>
    public static int[] Encode(ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, double outScale)
    {
        int d = gamma.Length;
        var p = new int[3 * d];
        for (int j = 0; j < d; j++)
        {
            double g = gamma[j] / outScale, b = beta[j] / outScale;
            int s = 62;
            while (s > NormBits - 14 && (Math.Abs(Math.ScaleB(g, s - NormBits)) >= (1 << 30) || Math.Abs(Math.ScaleB(b, s)) >= int.MaxValue)) s--;
            if (s < 1) throw new ArgumentOutOfRangeException(nameof(outScale), $"LayerNorm channel {j}: gamma/scale {g:G3}, beta/scale {b:G3} do not fit the integer LayerNorm");
            p[j] = (int)Math.Round(Math.ScaleB(g, s - NormBits));
            p[d + j] = (int)Math.Round(Math.ScaleB(b, s));
            p[2 * d + j] = s;
        }
        return p;
    }

    /// <summary>x[r, c] = sat32(x[r, c] + requantize(acc[r, c], M[c], s[c])): a sublayer output added to the int32 residual stream.</summary>
    public static void RequantizeAdd(ReadOnlySpan<int> acc, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<int> x, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                long v = (long)x[r * cols + c] + Requantize.Apply(acc[r * cols + c], multipliers[c], shifts[c]);
                x[r * cols + c] = (int)Math.Clamp(v, int.MinValue, int.MaxValue);
            }
    }
}
