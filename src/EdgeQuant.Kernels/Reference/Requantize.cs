namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Fixed-point requantization: y = (x · M + 2^(s−1)) >> s in 64-bit, i.e. x · M / 2^s rounded half up,
/// with M in [2^30, 2^31) and s in [1, 62]; then saturation to the output type.
/// <see cref="FromScale"/> turns a real scale into (M, s); the represented scale is M · 2^−s (relative error ≤ 2^−31).
/// </summary>
public static class Requantize
{
    /// <summary>Smallest and largest shift the kernels accept.</summary>
    public const int MinShift = 1, MaxShift = 62;

    /// <summary>Encodes a positive real <paramref name="scale"/> as a Q31 multiplier and a right shift.</summary>
    public static (int Multiplier, int Shift) FromScale(double scale)
    {
        if (!(scale > 0) || double.IsInfinity(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), $"requantization scale must be positive and finite, got {scale}");
        int e = Math.ILogB(scale) + 1;           // scale = f · 2^e, f in [0.5, 1)
        double f = Math.ScaleB(scale, -e);
        long m = (long)Math.Round(f * (1L << 31), MidpointRounding.AwayFromZero);
        if (m == 1L << 31) { m >>= 1; e++; }
        int shift = 31 - e;
        if (shift > MaxShift) return (0, MaxShift);   // scale below 2^-31: everything rounds to 0
        if (shift < MinShift)
            throw new ArgumentOutOfRangeException(nameof(scale), $"requantization scale {scale} is too large (≥ 2^30)");
        return ((int)m, shift);
    }

    /// <summary>
    /// True for a pair <see cref="FromScale"/> can produce: a normalized Q31 multiplier in [2^30, 2^31) with a shift in
    /// [<see cref="MinShift"/>, <see cref="MaxShift"/>], or (0, <see cref="MaxShift"/>) for a scale below 2^−31. Loaders
    /// refuse anything else: a zero or denormalized multiplier from a file means nothing in this scheme.
    /// </summary>
    public static bool IsCanonical(int multiplier, int shift) =>
        shift is >= MinShift and <= MaxShift && (multiplier >= 1 << 30 || (multiplier == 0 && shift == MaxShift));

    /// <summary>One value, saturated to int32.</summary>
    public static int Apply(int x, int multiplier, int shift)
    {
        long y = ((long)x * multiplier + (1L << (shift - 1))) >> shift;
        return (int)Math.Clamp(y, int.MinValue, int.MaxValue);
    }

    /// <summary>One value, saturated to [−127, 127] (symmetric int8: −128 never occurs, which the 16-bit pair sums of the NEON kernels rely on).</summary>
    public static sbyte ToS8(int x, int multiplier, int shift) => (sbyte)Math.Clamp(Apply(x, multiplier, shift), -127, 127);

    /// <summary>Row-wise: x[r, c] with per-column (M, s) → s8, written with output stride <paramref name="ldy"/>.</summary>
    public static void RowsToS8(ReadOnlySpan<int> x, int ldx, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts,
        Span<sbyte> y, int ldy, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[r * ldy + c] = ToS8(x[r * ldx + c], multipliers[c], shifts[c]);
    }

    /// <summary>Row-wise with one (M, s) for every column.</summary>
    public static void RowsToS8(ReadOnlySpan<int> x, int ldx, int multiplier, int shift, Span<sbyte> y, int ldy, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[r * ldy + c] = ToS8(x[r * ldx + c], multiplier, shift);
    }
}
