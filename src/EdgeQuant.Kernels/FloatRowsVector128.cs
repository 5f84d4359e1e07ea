using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels;

/// <summary>
/// The float row kernels of the mixed profile on Vector128 (SSE on x64, NEON on arm64): LayerNorm, quantize,
/// dequantize(+residual). Bit-identical to <see cref="FloatReference"/>: elementwise kernels use the same operations
/// in the same order (no fused multiply-add), and LayerNorm's row sums keep the reference's eight lanes in two
/// 4-lane accumulators, combined in the reference's order.
/// </summary>
internal static unsafe class FloatRowsVector128
{
    /// <summary>See <see cref="FloatReference.LayerNorm"/>; x and y may be the same buffer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayerNorm(float* x, float* gamma, float* beta, float eps, float* y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            float* xr = x + (long)r * cols; // [cols]
            float* yr = y + (long)r * cols; // [cols]
            float mean = RowSum(xr, cols, 0f, squares: false) / cols;
            float inv = 1f / MathF.Sqrt(RowSum(xr, cols, mean, squares: true) / cols + eps);
            var vm = Vector128.Create(mean);
            var vi = Vector128.Create(inv);
            int c = 0;
            for (; c + 4 <= cols; c += 4)
                ((Vector128.Load(xr + c) - vm) * vi * Vector128.Load(gamma + c) + Vector128.Load(beta + c)).Store(yr + c);
            for (; c < cols; c++) yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
        }
    }

    /// <summary><see cref="FloatReference.RowSum"/> with lanes 0–3 and 4–7 in two vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RowSum(float* x, int n, float center, bool squares)
    {
        var lo = Vector128<float>.Zero;
        var hi = Vector128<float>.Zero;
        var vc = Vector128.Create(center);
        int c8 = n & ~7;
        for (int c = 0; c < c8; c += 8)
        {
            var d0 = Vector128.Load(x + c) - vc;
            var d1 = Vector128.Load(x + c + 4) - vc;
            lo += squares ? d0 * d0 : d0;
            hi += squares ? d1 * d1 : d1;
        }
        var v = lo + hi; // (l0+l4, l1+l5, l2+l6, l3+l7)
        float s = (v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3));
        for (int c = c8; c < n; c++)
        {
            float d = x[c] - center;
            s += squares ? d * d : d;
        }
        return s;
    }

    /// <summary>See <see cref="FloatReference.QuantizeS8"/> (<paramref name="invScales"/> null) and <see cref="FloatReference.QuantizeS8Channels"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeS8(float* x, float invScale, float* invScales, sbyte* y, int rows, int cols)
    {
        var s = Vector128.Create(invScale);
        for (int r = 0; r < rows; r++)
        {
            float* xr = x + (long)r * cols; // [cols]
            sbyte* yr = y + (long)r * cols; // [cols]
            int c = 0;
            for (; c + 8 <= cols; c += 8)
            {
                var s0 = invScales == null ? s : Vector128.Load(invScales + c);
                var s1 = invScales == null ? s : Vector128.Load(invScales + c + 4);
                *(long*)(yr + c) = ToS8(Vector128.Load(xr + c) * s0, Vector128.Load(xr + c + 4) * s1);
            }
            for (; c < cols; c++) yr[c] = FloatReference.ToS8(xr[c] * (invScales == null ? invScale : invScales[c]));
        }
    }

    /// <summary>Round half to even, clamp to [−127, 127], NaN → 0 (as the reference's saturating float → sbyte cast); 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long ToS8(Vector128<float> a, Vector128<float> b)
    {
        var lim = Vector128.Create(127f);
        a = Vector128.Round(a);
        b = Vector128.Round(b);
        a = Vector128.Clamp(Vector128.ConditionalSelect(Vector128.Equals(a, a), a, Vector128<float>.Zero), -lim, lim);
        b = Vector128.Clamp(Vector128.ConditionalSelect(Vector128.Equals(b, b), b, Vector128<float>.Zero), -lim, lim);
        var s16 = Vector128.Narrow(Vector128.ConvertToInt32(a), Vector128.ConvertToInt32(b)); // 8 × int16 in [−127, 127]
        return Vector128.Narrow(s16, s16).AsInt64().ToScalar();
    }

    /// <summary>See <see cref="FloatReference.Dequantize"/> and (<paramref name="add"/>) <see cref="FloatReference.DequantizeAdd"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dequantize(int* acc, float* scales, float* y, int rows, int cols, bool add)
    {
        for (int r = 0; r < rows; r++)
        {
            int* ar = acc + (long)r * cols; // [cols]
            float* yr = y + (long)r * cols; // [cols]
            int c = 0;
            for (; c + 4 <= cols; c += 4)
            {
                var v = Vector128.ConvertToSingle(Vector128.Load(ar + c)) * Vector128.Load(scales + c);
                (add ? Vector128.Load(yr + c) + v : v).Store(yr + c);
            }
            for (; c < cols; c++) yr[c] = add ? yr[c] + ar[c] * scales[c] : ar[c] * scales[c];
        }
    }
}

/// <summary>The SIMD paths' common base: the float row kernels of <see cref="FloatRowsVector128"/> (same on x64 and arm64).</summary>
public abstract unsafe class VectorKernelSet : KernelSet
{
    /// <inheritdoc/>
    public override void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps, Span<float> y, int rows, int cols)
    {
        CheckFloatRows(x.Length, y.Length, rows, cols);
        if (gamma.Length < cols || beta.Length < cols) throw new ArgumentException("LayerNorm needs one gamma and beta per column");
        fixed (float* px = x, pg = gamma, pb = beta, py = y)
            FloatRowsVector128.LayerNorm(px, pg, pb, eps, py, rows, cols);
    }

    /// <inheritdoc/>
    public override void QuantizeS8(ReadOnlySpan<float> x, float invScale, Span<sbyte> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("quantized output is shorter than the input");
        fixed (float* px = x)
        fixed (sbyte* py = y)
            FloatRowsVector128.QuantizeS8(px, invScale, null, py, 1, x.Length);
    }

    /// <inheritdoc/>
    public override void QuantizeS8Channels(ReadOnlySpan<float> x, ReadOnlySpan<float> invScales, Span<sbyte> y, int rows, int cols)
    {
        CheckFloatRows(x.Length, y.Length, rows, cols);
        if (invScales.Length < cols) throw new ArgumentException("need one scale per column");
        fixed (float* px = x, ps = invScales)
        fixed (sbyte* py = y)
            FloatRowsVector128.QuantizeS8(px, 0f, ps, py, rows, cols);
    }

    /// <inheritdoc/>
    public override void DequantizeAdd(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
        => Dequantize(acc, scales, y, rows, cols, add: true);

    /// <inheritdoc/>
    public override void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
        => Dequantize(acc, scales, y, rows, cols, add: false);

    private static void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols, bool add)
    {
        CheckFloatRows(acc.Length, y.Length, rows, cols);
        if (scales.Length < cols) throw new ArgumentException("need one scale per column");
        fixed (int* pa = acc)
        fixed (float* ps = scales, py = y)
            FloatRowsVector128.Dequantize(pa, ps, py, rows, cols, add);
    }

    private static void CheckFloatRows(int xLen, int yLen, int rows, int cols)
    {
        if ((long)rows * cols > xLen || (long)rows * cols > yLen) throw new ArgumentException($"row kernel spans are shorter than {rows} x {cols}");
    }
}
