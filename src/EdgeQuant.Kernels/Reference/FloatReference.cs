namespace EdgeQuant.Kernels.Reference;

/// <summary>
/// Float kernels of the mixed profile (LayerNorm, quantize, dequantize + residual) and of the FP32 reference path.
/// The kernels the INT8 path uses have a fixed operation order and no fused multiply-add, so results are identical on
/// every ISA. <see cref="Gemm"/> serves the FP32 path and calibration: its dot products follow <see cref="DotLanes8"/>'s
/// fixed eight-lane order (two 4-lane vectors where SIMD exists), so conversion gives the same file on every ISA.
/// </summary>
public static class FloatReference
{
    /// <summary>
    /// LayerNorm over each row of x [rows, cols] (two-pass mean/variance; x and y may be the same buffer). Both row sums
    /// follow <see cref="RowSum"/>'s order, which 4- and 8-lane SIMD reproduce exactly; then y = (x − mean)·inv·γ + β.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps,
        Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * cols, cols);
            Span<float> yr = y.Slice(r * cols, cols);
            float mean = RowSum(xr, 0f, squares: false) / cols;
            float inv = 1f / MathF.Sqrt(RowSum(xr, mean, squares: true) / cols + eps);
            for (int c = 0; c < cols; c++) yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
        }
    }

    /// <summary>
    /// Σ (x − center) or Σ (x − center)² in the order every path uses: eight lanes, lane l adding elements l, l + 8,
    /// l + 16, … of the first ⌊cols/8⌋·8; lanes combined as ((l0+l4) + (l1+l5)) + ((l2+l6) + (l3+l7)); then the
    /// remaining elements one by one. (A sequential sum would be a latency-bound chain that no SIMD path can reproduce.)
    /// </summary>
    public static float RowSum(ReadOnlySpan<float> x, float center, bool squares)
    {
        Span<float> lane = stackalloc float[8];
        lane.Clear();
        int c8 = x.Length & ~7;
        for (int c = 0; c < c8; c++)
        {
            float d = x[c] - center;
            lane[c & 7] += squares ? d * d : d;
        }
        float s = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
        for (int c = c8; c < x.Length; c++)
        {
            float d = x[c] - center;
            s += squares ? d * d : d;
        }
        return s;
    }

    /// <summary>Symmetric quantization: round-half-even(x · invScale), saturated to [−127, 127].</summary>
    public static void QuantizeS8(ReadOnlySpan<float> x, float invScale, Span<sbyte> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = ToS8(x[i] * invScale);
    }

    /// <summary>One already-scaled value: round half to even, saturate to [−127, 127] (NaN → 0, the saturating cast).</summary>
    public static sbyte ToS8(float scaled) => (sbyte)Math.Clamp(MathF.Round(scaled), -127f, 127f);

    /// <summary>
    /// Per-channel symmetric quantization of rows: y[r, c] = round-half-even(x[r, c] · invScales[c]) saturated to
    /// [−127, 127] (SmoothQuant: the per-channel smoothing factors folded into the quantization step).
    /// </summary>
    public static void QuantizeS8Channels(ReadOnlySpan<float> x, ReadOnlySpan<float> invScales, Span<sbyte> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) y[r * cols + c] = ToS8(x[r * cols + c] * invScales[c]);
    }

    /// <summary>y[r, c] += acc[r, c] · scales[c] (dequantized GEMM output added to the float residual stream).</summary>
    public static void DequantizeAdd(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[r * cols + c] += acc[r * cols + c] * scales[c];
    }

    /// <summary>y[r, c] = acc[r, c] · scales[c].</summary>
    public static void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[r * cols + c] = acc[r * cols + c] * scales[c];
    }

    /// <summary>Float GEMM, NT form: C[m, n] = bias[n] + Σ_k A[m, k]·B[n, k]; bias may be empty.</summary>
    public static void Gemm(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        Span<float> c, int ldc, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> ar = a.Slice(i * lda, k);
            for (int j = 0; j < n; j++)
            {
                float acc = DotLanes8(ar, b.Slice(j * ldb, k));
                c[i * ldc + j] = bias.IsEmpty ? acc : acc + bias[j];
            }
        }
    }

    /// <summary>
    /// Σ a[i]·b[i] in <see cref="RowSum"/>'s order (eight lanes, lane l taking i ≡ l mod 8 of the first ⌊n/8⌋·8, lanes
    /// combined pairwise, then the tail in order), each product rounded before its add: the same bits on every ISA,
    /// at a fraction of a sequential chain's latency. Used by the plan graphs' float ops.
    /// </summary>
    public static float DotLanes8(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, full = n & ~7;
        if (b.Length < n) throw new ArgumentException("second operand shorter than the first");
        float l0, l1, l2, l3, l4, l5, l6, l7;
        if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated && full > 0)
        {
            // Lanes 0-3 and 4-7 in two vectors: per lane the same multiply, then add, as the scalar loop below.
            var lo = System.Runtime.Intrinsics.Vector128<float>.Zero;
            var hi = System.Runtime.Intrinsics.Vector128<float>.Zero;
            ref float ra = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a);
            ref float rb = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b);
            for (int i = 0; i < full; i += 8)
            {
                lo += System.Runtime.Intrinsics.Vector128.LoadUnsafe(ref ra, (nuint)i) * System.Runtime.Intrinsics.Vector128.LoadUnsafe(ref rb, (nuint)i);
                hi += System.Runtime.Intrinsics.Vector128.LoadUnsafe(ref ra, (nuint)(i + 4)) * System.Runtime.Intrinsics.Vector128.LoadUnsafe(ref rb, (nuint)(i + 4));
            }
            (l0, l1, l2, l3, l4, l5, l6, l7) = (lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]);
        }
        else
        {
            l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = 0;
            for (int i = 0; i < full; i += 8)
            {
                l0 += a[i] * b[i]; l1 += a[i + 1] * b[i + 1]; l2 += a[i + 2] * b[i + 2]; l3 += a[i + 3] * b[i + 3];
                l4 += a[i + 4] * b[i + 4]; l5 += a[i + 5] * b[i + 5]; l6 += a[i + 6] * b[i + 6]; l7 += a[i + 7] * b[i + 7];
            }
        }
        float s = ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7));
        for (int i = full; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Σ a[i]·b[i] summed in index order in float: the same bits on every ISA (for the few float ops an int8 model keeps).</summary>
    public static float DotOrdered(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// tanh from IEEE basic operations only (e^{2|x|} by ln 2 range reduction and a degree-13 Taylor polynomial in
    /// double), so it gives the same bits on every ISA, unlike the C library's; absolute error below 1e-7.
    /// </summary>
    public static float Tanh(float x)
    {
        double z = 2.0 * Math.Abs((double)x);
        if (double.IsNaN(z)) return float.NaN;
        if (z > 40) return x > 0 ? 1f : -1f;
        double k = Math.Round(z * 1.4426950408889634);
        double r = z - k * 0.6931471803691238 - k * 1.9082149292705877e-10; // ln 2 split: hi is exact for |k| < 2^20
        double p = 1.0;
        for (int i = 13; i >= 1; i--) p = 1.0 + p * r / i;
        double e = Math.ScaleB(p, (int)k);
        double t = (e - 1.0) / (e + 1.0);
        return (float)(x < 0 ? -t : t);
    }

    /// <summary>
    /// e^x from IEEE basic operations only (ln 2 range reduction, degree-13 Taylor polynomial in double), so plan graphs
    /// of int8 models give the same bits on every ISA (the C library's exp may contract to FMA on one ISA and not the
    /// other). Relative error below 1e-15 on |x| ≤ 700; overflows to +∞ and underflows to 0 beyond.
    /// </summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x > 709) return double.PositiveInfinity;
        if (x < -745) return 0;
        double k = Math.Round(x * 1.4426950408889634);
        double r = x - k * 0.6931471803691238 - k * 1.9082149292705877e-10;
        double p = 1.0;
        for (int i = 13; i >= 1; i--) p = 1.0 + p * r / i;
        return Math.ScaleB(p, (int)k);
    }

    /// <summary>
    /// ln x for x &gt; 0 from IEEE basic operations only (exact binary exponent split, then 2·atanh((m − 1)/(m + 1)) for
    /// m in [√½, √2)): the same bits on every ISA. Relative error below 1e-15; NaN for x ≤ 0 or NaN, +∞ for +∞.
    /// </summary>
    public static double Log(double x)
    {
        if (!(x > 0)) return double.NaN;
        if (double.IsPositiveInfinity(x)) return x;
        int e = Math.ILogB(x);
        double m = Math.ScaleB(x, -e); // [1, 2)
        if (m > 1.4142135623730951) { m *= 0.5; e++; }
        double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0;
        for (int k = 1; k <= 41; k += 2)
        {
            sum += term / k;
            term *= s2;
        }
        return 2.0 * sum + e * 0.6931471805599453;
    }

    /// <summary>
    /// x^y for x ≥ 0 as <see cref="Exp"/>(y·<see cref="Log"/>(x)): the same bits on every ISA. 0^y is 0 for y &gt; 0 and
    /// +∞ for y &lt; 0 (as <see cref="Math.Pow"/>; the logarithm alone would give NaN); NaN for x &lt; 0.
    /// </summary>
    public static double Pow(double x, double y) => x == 1 || y == 0 ? 1 : x == 0 ? (y > 0 ? 0 : double.PositiveInfinity) : Exp(y * Log(x));

    /// <summary>
    /// sin x and cos x from IEEE basic operations only (Cody–Waite reduction by π/2 in three parts, degree-17/16 Taylor
    /// polynomials on [−π/4, π/4] in double): the same bits on every ISA, unlike the C library's. Absolute error below
    /// 1e-15 for |x| &lt; 2^20 (rotary angles: position × inverse frequency); NaN for ±∞ and NaN.
    /// </summary>
    public static (double Sin, double Cos) SinCos(double x)
    {
        if (!double.IsFinite(x)) return (double.NaN, double.NaN);
        double k = Math.Round(x * 0.63661977236758134);
        double r = x - k * 1.57079632673412561417 - k * 6.07710050630396597660e-11 - k * 2.02226624879595063154e-21;
        double r2 = r * r, ps = 1.0, pc = 1.0;
        for (int i = 8; i >= 1; i--)
        {
            ps = 1.0 - ps * r2 / (2 * i * (2 * i + 1));
            pc = 1.0 - pc * r2 / ((2 * i - 1) * 2 * i);
        }
        double sin = r * ps, cos = pc;
        return ((long)k & 3) switch
        {
            0 => (sin, cos),
            1 => (cos, -sin),
            2 => (-sin, -cos),
            _ => (-cos, sin),
        };
    }

    /// <summary>
    /// e^x in float from IEEE basic float operations only (Cody–Waite reduction by ln 2, Cephes' degree-6 polynomial, no
    /// fused multiply-add): the same bits on every ISA, within 2 ulp of e^x, at a fraction of <see cref="Exp"/>'s cost
    /// (decoder attention and SiLU evaluate it per score and per MLP element). 0 below −87.3, +∞ above 88.7, NaN for NaN.
    /// </summary>
    public static float ExpF(float x)
    {
        if (!(x < 88.7f)) return float.IsNaN(x) ? x : float.PositiveInfinity;
        if (x < -87.3f) return 0f;
        float n = MathF.Round(x * 1.44269504088896341f);
        float r = x - n * 0.693359375f - n * -2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        float y = p * (r * r) + r + 1f;
        // 2^n with n in [−126, 128): two steps keep the scale factor normal at both ends.
        int e = (int)n;
        int half = e / 2;
        return y * BitConverter.Int32BitsToSingle((half + 127) << 23) * BitConverter.Int32BitsToSingle((e - half + 127) << 23);
    }

    /// <summary>Float softmax of one row in place (max-subtracted).</summary>
    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x) max = MathF.Max(max, v);
        float sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)Exp(x[i] - max); // portable exp: FP32 runs (and the calibration they feed) give the same bits on every ISA
            sum += x[i];
        }
        float inv = 1f / sum;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }

    /// <summary>Exact (erf) GELU.</summary>
    public static float Gelu(float x) => (float)(0.5 * x * (1.0 + Erf(x * 0.70710678118654752)));

    /// <summary>erf(x), absolute error below 1.2e-7 (Numerical Recipes erfc Chebyshev fit), through the portable <see cref="Exp"/>.</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - r : r - 1.0;
    }
}
