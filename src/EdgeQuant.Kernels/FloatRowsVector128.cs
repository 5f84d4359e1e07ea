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
internal static class FloatRowsVector128
{
    /// <summary>See <see cref="FloatReference.LayerNorm"/>; x and y may be the same buffer.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps, Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * cols, cols); // [cols]
            Span<float> yr = y.Slice(r * cols, cols);         // [cols]
            float mean = RowSum(xr, 0f, squares: false) / cols;
            float inv = 1f / MathF.Sqrt(RowSum(xr, mean, squares: true) / cols + eps);
            var vm = Vector128.Create(mean);
            var vi = Vector128.Create(inv);
            int c = 0;
            for (; c + 4 <= cols; c += 4)
                ((Vector128.Create(xr.Slice(c, 4)) - vm) * vi * Vector128.Create(gamma.Slice(c, 4)) + Vector128.Create(beta.Slice(c, 4))).CopyTo(yr.Slice(c, 4));
            for (; c < cols; c++) yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
        }
    }

    /// <summary><see cref="FloatReference.RowSum"/> with lanes 0–3 and 4–7 in two vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RowSum(ReadOnlySpan<float> x, float center, bool squares)
    {
        var lo = Vector128<float>.Zero;
        var hi = Vector128<float>.Zero;
        var vc = Vector128.Create(center);
        int c8 = x.Length & ~7;
        for (int c = 0; c < c8; c += 8)
        {
            var d0 = Vector128.Create(x.Slice(c, 4)) - vc;
            var d1 = Vector128.Create(x.Slice(c + 4, 4)) - vc;
            lo += squares ? d0 * d0 : d0;
            hi += squares ? d1 * d1 : d1;
        }
        var v = lo + hi; // (l0+l4, l1+l5, l2+l6, l3+l7)
        float s = (v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3));
        for (int c = c8; c < x.Length; c++)
        {
            float d = x[c] - center;
            s += squares ? d * d : d;
        }
        return s;
    }

    /// <summary>See <see cref="FloatReference.QuantizeS8"/>.</summary>
    public static void QuantizeS8(ReadOnlySpan<float> x, float invScale, Span<sbyte> y)
    {
        var s = Vector128.Create(invScale);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
            ToS8(Vector128.Create(x.Slice(i, 4)) * s, Vector128.Create(x.Slice(i + 4, 4)) * s, y.Slice(i, 8));
        for (; i < x.Length; i++) y[i] = (sbyte)Math.Clamp(MathF.Round(x[i] * invScale), -127f, 127f);
    }

    /// <summary>See <see cref="FloatReference.QuantizeS8Channels"/>.</summary>
    public static void QuantizeS8Channels(ReadOnlySpan<float> x, ReadOnlySpan<float> invScales, Span<sbyte> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * cols, cols); // [cols]
            Span<sbyte> yr = y.Slice(r * cols, cols);         // [cols]
            int c = 0;
            for (; c + 8 <= cols; c += 8)
                ToS8(Vector128.Create(xr.Slice(c, 4)) * Vector128.Create(invScales.Slice(c, 4)),
                    Vector128.Create(xr.Slice(c + 4, 4)) * Vector128.Create(invScales.Slice(c + 4, 4)), yr.Slice(c, 8));
            for (; c < cols; c++) yr[c] = (sbyte)Math.Clamp(MathF.Round(xr[c] * invScales[c]), -127f, 127f);
        }
    }

    /// <summary>Round half to even, clamp to [−127, 127], NaN → 0 (as the reference's saturating float → sbyte cast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ToS8(Vector128<float> a, Vector128<float> b, Span<sbyte> y)
    {
        var lim = Vector128.Create(127f);
        a = Vector128.Round(a);
        b = Vector128.Round(b);
        a = Vector128.Clamp(Vector128.ConditionalSelect(Vector128.Equals(a, a), a, Vector128<float>.Zero), -lim, lim);
        b = Vector128.Clamp(Vector128.ConditionalSelect(Vector128.Equals(b, b), b, Vector128<float>.Zero), -lim, lim);
        var s16 = Vector128.Narrow(Vector128.ConvertToInt32(a), Vector128.ConvertToInt32(b)); // 8 × int16 in [−127, 127]
        Vector128.Narrow(s16, s16).GetLower().AsSByte().CopyTo(y);
    }

    /// <summary>See <see cref="FloatReference.Dequantize"/> and (<paramref name="add"/>) <see cref="FloatReference.DequantizeAdd"/>.</summary>
    public static void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols, bool add)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<int> ar = acc.Slice(r * cols, cols); // [cols]
            Span<float> yr = y.Slice(r * cols, cols);         // [cols]
            int c = 0;
            for (; c + 4 <= cols; c += 4)
            {
                var v = Vector128.ConvertToSingle(Vector128.Create(ar.Slice(c, 4))) * Vector128.Create(scales.Slice(c, 4));
                (add ? Vector128.Create(yr.Slice(c, 4)) + v : v).CopyTo(yr.Slice(c, 4));
            }
            for (; c < cols; c++) yr[c] = add ? yr[c] + ar[c] * scales[c] : ar[c] * scales[c];
        }
    }
}

/// <summary>The SIMD paths' common base: the float row kernels of <see cref="FloatRowsVector128"/> (same on x64 and arm64).</summary>
public abstract class VectorKernelSet : KernelSet
{
    /// <inheritdoc/>
    public override void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps, Span<float> y, int rows, int cols)
    {
        CheckFloatRows(x.Length, y.Length, rows, cols);
        if (gamma.Length < cols || beta.Length < cols) throw new ArgumentException("LayerNorm needs one gamma and beta per column");
        FloatRowsVector128.LayerNorm(x, gamma, beta, eps, y, rows, cols);
    }

    /// <inheritdoc/>
    public override void QuantizeS8(ReadOnlySpan<float> x, float invScale, Span<sbyte> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("quantized output is shorter than the input");
        FloatRowsVector128.QuantizeS8(x, invScale, y);
    }

    /// <inheritdoc/>
    public override void QuantizeS8Channels(ReadOnlySpan<float> x, ReadOnlySpan<float> invScales, Span<sbyte> y, int rows, int cols)
    {
        CheckFloatRows(x.Length, y.Length, rows, cols);
        if (invScales.Length < cols) throw new ArgumentException("need one scale per column");
        FloatRowsVector128.QuantizeS8Channels(x, invScales, y, rows, cols);
    }

    /// <inheritdoc/>
    public override void DequantizeAdd(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
    {
        CheckFloatRows(acc.Length, y.Length, rows, cols);
        if (scales.Length < cols) throw new ArgumentException("need one scale per column");
        FloatRowsVector128.Dequantize(acc, scales, y, rows, cols, add: true);
    }

    /// <inheritdoc/>
    public override void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
    {
        CheckFloatRows(acc.Length, y.Length, rows, cols);
        if (scales.Length < cols) throw new ArgumentException("need one scale per column");
        FloatRowsVector128.Dequantize(acc, scales, y, rows, cols, add: false);
    }

    private static void CheckFloatRows(int xLen, int yLen, int rows, int cols)
    {
        if ((long)rows * cols > xLen || (long)rows * cols > yLen) throw new ArgumentException($"row kernel spans are shorter than {rows} x {cols}");
    }
}
