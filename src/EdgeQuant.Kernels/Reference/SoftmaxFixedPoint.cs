namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Integer-only softmax after I-BERT (Kim et al., 2021): exp(x) for x ≤ 0 is split as x = −q·ln2 + r,
/// r in (−ln2, 0], exp(r) ≈ 0.3585·(r + 1.353)² + 0.344, and the result shifted right by q.
///
/// Input domain: int32 with scale S = ln2 / 2^8, so q = (−d) >> 8 and r = d + q·2^8 need no division.
/// Constants in that domain: b = floor(1.353 / S) = 499, c = floor(0.344 / (0.3585·S²)) = 130887;
/// z = ((r + b)² + c) >> q ≤ 380,888 &lt; 2^19, so Σz fits int32 for rows up to 5,600.
/// Normalization: p = (z · floor(2^46 / Σz) + 2^37) >> 38, clamped to 255: probabilities as u8 with scale 2^−8.
/// Measured max abs error vs float softmax: see SoftmaxFixedPointTests (bound asserted there).
/// </summary>
public static class SoftmaxFixedPoint
{
    /// <summary>Fractional bits of the input domain: one unit = ln2 / 2^8.</summary>
    public const int InputFracBits = 8;
    /// <summary>Scale of the input domain, ln2 / 256.</summary>
    public const double InputScale = 0.69314718055994531 / (1 << InputFracBits);
    /// <summary>Scale of the u8 output probabilities.</summary>
    public const float OutputScale = 1f / 256f;
    /// <summary>Longest row the int32 sum can take.</summary>
    public const int MaxRow = 5600;

    private const int B = 499, C = 130887, MaxQ = 30;

    /// <summary>
    /// One row: <paramref name="acc"/> (raw scores) is requantized into the input domain by (<paramref name="multiplier"/>, <paramref name="shift"/>),
    /// then normalized into <paramref name="p"/>. <paramref name="scratch"/> holds ≥ row-length ints.
    /// </summary>
    public static void Row(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> p)
    {
        int n = acc.Length;
        if (n == 0) return;
        if (n > MaxRow) throw new ArgumentOutOfRangeException(nameof(acc), $"softmax row of {n} exceeds {MaxRow}");
        Span<int> x = scratch[..n]; // [n] scores in the ln2/256 domain, then their exponentials
        long sum = Exponentials(acc, multiplier, shift, x);
        long recip = (1L << 46) / sum;   // sum ≥ z(max) = b² + c > 0
        for (int i = 0; i < n; i++)
        {
            long v = (x[i] * recip + (1L << 37)) >> 38;
            p[i] = (byte)Math.Min(v, 255);
        }
    }

    /// <summary>
    /// The scores of one row requantized into the input domain, then z = i-exp(x − max) into <paramref name="x"/>;
    /// returns Σz (&lt; 2^31 for rows up to <see cref="MaxRow"/>). Shared by the u8 and the log2 softmax.
    /// </summary>
    internal static long Exponentials(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> x)
    {
        int n = acc.Length, max = int.MinValue;
        for (int i = 0; i < n; i++)
        {
            int v = Requantize.Apply(acc[i], multiplier, shift);
            x[i] = v;
            if (v > max) max = v;
        }
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            x[i] = Exp(x[i], max);
            sum += x[i];
        }
        return sum;
    }

    /// <summary>i-exp of (x − max) in the input domain; result scaled by 0.3585·S².</summary>
    public static int Exp(int x, int max)
    {
        long d = (long)x - max;                                  // ≤ 0
        if (d < -(MaxQ << InputFracBits)) d = -(MaxQ << InputFracBits);
        int q = (int)(-d) >> InputFracBits;
        int r = (int)d + (q << InputFracBits);                   // (−256, 0]
        int t = r + B;
        return (t * t + C) >> q;
    }
}
