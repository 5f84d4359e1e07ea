namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Integer-only GELU after I-BERT: erf(x) ≈ sign(x)·[a·(min(|x|, −b) + b)² + 1], a = −0.2888, b = −1.769,
/// GELU(x) = x·(1 + erf(x/√2))/2.
///
/// Input domain: int32 clamped to int16 range with scale S = 2^−10 (covers [−32, 32)).
/// erf runs at scale Se = S/√2: b_int = floor(b/Se) = −2562, c_int = floor(1/(a·Se²)) = −7261607 (also = floor(1/S_erf)).
/// q_erf = sgn·((min(|q|, −b_int) + b_int)² + c_int); t = (q_erf + c_int) >> 10 in [−14184, 0];
/// y = −q·t (≤ 2^29, fits int32) with positive scale <see cref="OutputScale"/> = S·|a|·Se²·2^10/2.
/// Measured max abs error vs exact GELU: see GeluFixedPointTests (bound asserted there).
/// </summary>
public static class GeluFixedPoint
{
    /// <summary>Fractional bits of the input domain.</summary>
    public const int InputFracBits = 10;
    /// <summary>Scale of the input domain, 2^−10.</summary>
    public const double InputScale = 1.0 / (1 << InputFracBits);
    /// <summary>Scale of <see cref="Apply"/>'s output: 2^−10 · 0.2888 · 2^−21 · 2^10 / 2.</summary>
    public const double OutputScale = 0.2888 / (1L << 22);

    private const int BInt = -2562, CInt = -7261607;

    /// <summary>i-GELU of one input already in the 2^−10 domain.</summary>
    public static int Apply(int q)
    {
        q = Math.Clamp(q, short.MinValue, short.MaxValue);
        int sgn = Math.Sign(q);
        int qa = Math.Min(Math.Abs(q), -BInt);
        int u = qa + BInt;
        int erf = sgn * (u * u + CInt);
        int t = (erf + CInt) >> 10;
        return -q * t;
    }

    /// <summary>
    /// Rows of GEMM accumulators [rows, cols]: per-column requantization (M, s) into the 2^−10 domain, i-GELU,
    /// then requantization by (<paramref name="outMultiplier"/>, <paramref name="outShift"/>) into s8.
    /// </summary>
    public static void RowsToS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> inMultipliers, ReadOnlySpan<int> inShifts,
        int outMultiplier, int outShift, Span<sbyte> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                int g = Apply(Requantize.Apply(acc[i], inMultipliers[c], inShifts[c]));
                y[i] = Requantize.ToS8(g, outMultiplier, outShift);
            }
    }
}
