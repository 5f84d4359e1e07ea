using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Arm64;

/// <summary>
/// NEON fixed-point epilogues, bit-identical to the reference, 4 int32 lanes at a time. Requantization maps exactly
/// onto SMULL (32×32→64) + SRSHL by −s (a rounding right shift adds 2^(s−1) first, as the reference does) + SQXTN
/// (saturate to int32, as the reference does before the output clamp).
/// </summary>
internal static unsafe class EpiloguesNeon
{
    /// <summary>(x·M + 2^(s−1)) >> s per lane, saturated to int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Requant(Vector128<int> x, Vector128<int> m, Vector128<int> s)
    {
        Vector128<long> negLo = AdvSimd.SignExtendWideningLower(AdvSimd.Negate(s).GetLower());
        Vector128<long> negHi = AdvSimd.SignExtendWideningUpper(AdvSimd.Negate(s));
        var lo = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningLower(x.GetLower(), m.GetLower()), negLo);
        var hi = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningUpper(x, m), negHi);
        return AdvSimd.ExtractNarrowingSaturateUpper(AdvSimd.ExtractNarrowingSaturateLower(lo), hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Clamp(Vector128<int> v, int lo, int hi) => AdvSimd.Min(AdvSimd.Max(v, Vector128.Create(lo)), Vector128.Create(hi));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RequantRowsS8(int* x, int ldx, int* mult, int* shift, bool perColumn, sbyte* y, int ldy, int rows, int cols)
    {
        var mu = Vector128.Create(mult[0]);
        var su = Vector128.Create(shift[0]);
        for (int r = 0; r < rows; r++)
        {
            int* xr = x + (long)r * ldx;
            sbyte* yr = y + (long)r * ldy;
            int c = 0;
            for (; c + 4 <= cols; c += 4)
            {
                var m = perColumn ? AdvSimd.LoadVector128(mult + c) : mu;
                var s = perColumn ? AdvSimd.LoadVector128(shift + c) : su;
                var v = Clamp(Requant(AdvSimd.LoadVector128(xr + c), m, s), -127, 127);
                for (int l = 0; l < 4; l++) yr[c + l] = (sbyte)v.GetElement(l);
            }
            for (; c < cols; c++) yr[c] = Requantize.ToS8(xr[c], mult[perColumn ? c : 0], shift[perColumn ? c : 0]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluRowsS8(int* acc, int* inMult, int* inShift, int outMult, int outShift, sbyte* y, int rows, int cols)
    {
        var om = Vector128.Create(outMult);
        var os = Vector128.Create(outShift);
        for (int r = 0; r < rows; r++)
        {
            int* ar = acc + (long)r * cols;
            sbyte* yr = y + (long)r * cols;
            int c = 0;
            for (; c + 4 <= cols; c += 4)
            {
                var q = Clamp(Requant(AdvSimd.LoadVector128(ar + c), AdvSimd.LoadVector128(inMult + c), AdvSimd.LoadVector128(inShift + c)), short.MinValue, short.MaxValue);
                // sign(q): (0 > q) − (q > 0) with comparison masks of −1.
                var sgn = AdvSimd.Subtract(AdvSimd.CompareGreaterThan(Vector128<int>.Zero, q), AdvSimd.CompareGreaterThan(q, Vector128<int>.Zero));
                var u = AdvSimd.Add(AdvSimd.Min(AdvSimd.Abs(q).AsInt32(), Vector128.Create(2562)), Vector128.Create(-2562));
                var erf = AdvSimd.Multiply(sgn, AdvSimd.Add(AdvSimd.Multiply(u, u), Vector128.Create(-7261607)));
                var t = AdvSimd.ShiftRightArithmetic(AdvSimd.Add(erf, Vector128.Create(-7261607)), (byte)10);
                var g = AdvSimd.Multiply(AdvSimd.Negate(q), t);
                var v = Clamp(Requant(g, om, os), -127, 127);
                for (int l = 0; l < 4; l++) yr[c + l] = (sbyte)v.GetElement(l);
            }
            for (; c < cols; c++)
                yr[c] = Requantize.ToS8(GeluFixedPoint.Apply(Requantize.Apply(ar[c], inMult[c], inShift[c])), outMult, outShift);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxRow(int* acc, int n, int multiplier, int shift, int* x, byte* p)
    {
        if (n > SoftmaxFixedPoint.MaxRow) throw new ArgumentOutOfRangeException(nameof(n), $"softmax row of {n} exceeds {SoftmaxFixedPoint.MaxRow}");
        var m = Vector128.Create(multiplier);
        var s = Vector128.Create(shift);
        int i = 0;
        var vmax = Vector128.Create(int.MinValue);
        for (; i + 4 <= n; i += 4)
        {
            var v = Requant(AdvSimd.LoadVector128(acc + i), m, s);
            AdvSimd.Store(x + i, v);
            vmax = AdvSimd.Max(vmax, v);
        }
        int max = AdvSimd.Arm64.MaxAcross(vmax).ToScalar();
        for (; i < n; i++)
        {
            x[i] = Requantize.Apply(acc[i], multiplier, shift);
            max = Math.Max(max, x[i]);
        }
        int lower = (int)Math.Max((long)max - (30 << SoftmaxFixedPoint.InputFracBits), int.MinValue);
        var vl = Vector128.Create(lower);
        var vm = Vector128.Create(max);
        var vsum = Vector128<int>.Zero;
        i = 0;
        for (; i + 4 <= n; i += 4)
        {
            var d = AdvSimd.Subtract(AdvSimd.Max(AdvSimd.LoadVector128(x + i), vl), vm);
            var q = AdvSimd.ShiftRightArithmetic(AdvSimd.Negate(d), (byte)8);
            var t = AdvSimd.Add(AdvSimd.Add(d, Vector128.ShiftLeft(q, 8)), Vector128.Create(499));
            // z >> q with a per-lane count: SSHL by −q.
            var z = AdvSimd.ShiftArithmetic(AdvSimd.Add(AdvSimd.Multiply(t, t), Vector128.Create(130887)), AdvSimd.Negate(q));
            AdvSimd.Store(x + i, z);
            vsum = AdvSimd.Add(vsum, z);
        }
        int sum = AdvSimd.Arm64.AddAcross(vsum).ToScalar();
        for (; i < n; i++)
        {
            x[i] = SoftmaxFixedPoint.Exp(x[i], max);
            sum += x[i];
        }
        long recip = (1L << 46) / sum;
        var vr = Vector64.Create((int)recip);
        var shiftOut = Vector128.Create(-38L);
        i = 0;
        for (; i + 4 <= n; i += 4)
        {
            var z = AdvSimd.LoadVector128(x + i);
            // (z·recip + 2^37) >> 38 = rounding shift right by 38 (z·recip < 2^49, positive).
            var lo = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningLower(z.GetLower(), vr), shiftOut);
            var hi = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningUpper(z, Vector128.Create((int)recip)), shiftOut);
            var v = AdvSimd.Min(AdvSimd.ExtractNarrowingSaturateUpper(AdvSimd.ExtractNarrowingSaturateLower(lo), hi), Vector128.Create(255));
            for (int l = 0; l < 4; l++) p[i + l] = (byte)v.GetElement(l);
        }
        for (; i < n; i++) p[i] = (byte)Math.Min((x[i] * recip + (1L << 37)) >> 38, 255);
    }
}
