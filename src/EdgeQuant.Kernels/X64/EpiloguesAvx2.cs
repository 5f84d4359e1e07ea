using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>Compile-time choice of the requantization sequence (generic struct arguments are specialized per type).</summary>
internal interface IEpilogueWidth
{
    /// <summary>Whether requantization uses AVX-512 (vpsravq, vpminsq/vpmaxsq on 8 int64 lanes).</summary>
    static abstract bool Avx512 { get; }
}

/// <summary>AVX2 only.</summary>
internal struct EpilogueYmm : IEpilogueWidth { public static bool Avx512 => false; }

/// <summary>AVX-512F where the CPU (or the publish-time ISA) has it.</summary>
internal struct EpilogueZmm : IEpilogueWidth { public static bool Avx512 => Avx512F.IsSupported; }

/// <summary>
/// AVX2 fixed-point epilogues, bit-identical to the reference: requantization (64-bit products, per-lane shifts),
/// i-GELU and i-softmax, 8 int32 lanes at a time. Arithmetic right shifts of 64-bit lanes (absent in AVX2) use
/// logical shifts after adding 2^62, which is exact for shifts in [1, 62]; with <see cref="EpilogueZmm"/> the 8 lanes
/// are widened to one zmm of int64 and use AVX-512's arithmetic shift and 64-bit min/max instead (the GELU epilogue
/// went from 8.2 to 6.8 % of a DeiT-S W4 run).
/// </summary>
internal static unsafe class EpiloguesAvx2
{
    // Constants as expression-bodied properties: folded into constant loads by the JIT and by Native AOT alike
    // (a static readonly field would be read through its class-initialization check in AOT code).
    private static Vector256<long> One => Vector256.Create(1L);
    private static Vector256<long> Bias62 => Vector256.Create(1L << 62);
    private static Vector256<long> Low32 => Vector256.Create(0xFFFFFFFFL);

    /// <summary>(x·M + 2^(s−1)) >> s per lane, clamped to [lo, hi] (as the reference, which saturates to int32 first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Requant<W>(Vector256<int> x, Vector256<int> m, Vector256<int> s, long lo, long hi) where W : struct, IEpilogueWidth
    {
        if (W.Avx512)
        {
            // vpmuldq multiplies the low int32 of each int64 lane: the sign-extended x and M.
            var p = Avx512F.Multiply(Avx512F.ConvertToVector512Int64(x).AsInt32(), Avx512F.ConvertToVector512Int64(m).AsInt32());
            var sh = Avx512F.ConvertToVector512Int64(s).AsUInt64();
            var v = Avx512F.ShiftRightArithmeticVariable(p + Avx512F.ShiftLeftLogicalVariable(Vector512<long>.One, sh - Vector512<ulong>.One), sh);
            return Avx512F.ConvertToVector256Int32(Avx512F.Min(Avx512F.Max(v, Vector512.Create(lo)), Vector512.Create(hi)));
        }
        return Requant(x, m, s, Vector256.Create(lo), Vector256.Create(hi));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Requant(Vector256<int> x, Vector256<int> m, Vector256<int> s, Vector256<long> lo, Vector256<long> hi)
    {
        var even = Half(Avx2.Multiply(x, m), Avx2.And(s.AsInt64(), Low32), lo, hi);
        var odd = Half(Avx2.Multiply(Avx2.ShiftRightLogical(x.AsInt64(), 32).AsInt32(), Avx2.ShiftRightLogical(m.AsInt64(), 32).AsInt32()),
            Avx2.ShiftRightLogical(s.AsInt64(), 32), lo, hi);
        return Avx2.Blend(even.AsInt32(), Avx2.ShiftLeftLogical(odd, 32).AsInt32(), 0b1010_1010);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<long> Half(Vector256<long> p, Vector256<long> s, Vector256<long> lo, Vector256<long> hi)
    {
        var round = Avx2.ShiftLeftLogicalVariable(One, Avx2.Subtract(s, One).AsUInt64());
        var v = Avx2.ShiftRightLogicalVariable(Avx2.Add(Avx2.Add(p, round), Bias62), s.AsUInt64());
        v = Avx2.Subtract(v, Avx2.ShiftLeftLogicalVariable(One, Avx2.Subtract(Vector256.Create(62L), s).AsUInt64()));
        v = Avx2.BlendVariable(v, hi, Avx2.CompareGreaterThan(v, hi).AsByte().AsInt64());
        return Avx2.BlendVariable(v, lo, Avx2.CompareGreaterThan(lo, v).AsByte().AsInt64());
    }

    private const long LoS8 = -127, HiS8 = 127, LoS16 = short.MinValue, HiS16 = short.MaxValue, LoS32 = int.MinValue, HiS32 = int.MaxValue;

    /// <summary>8 int32 (each in [−127, 127]) → 8 sbytes at <paramref name="y"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreS8(Vector256<int> v, sbyte* y)
    {
        var s16 = Avx2.PackSignedSaturate(v, v);              // [v0..3 v0..3 | v4..7 v4..7]
        var s8 = Avx2.PackSignedSaturate(s16, s16);           // per lane: v0..3 x4 | v4..7 x4
        *(int*)y = s8.AsInt32().GetElement(0);
        *(int*)(y + 4) = s8.AsInt32().GetElement(4);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RequantRowsS8<W>(int* x, int ldx, int* mult, int* shift, bool perColumn, sbyte* y, int ldy, int rows, int cols) where W : struct, IEpilogueWidth
    {
        for (int r = 0; r < rows; r++)
        {
            int* xr = x + (long)r * ldx;
            sbyte* yr = y + (long)r * ldy;
            int c = 0;
            var mu = Vector256.Create(mult[0]);
            var su = Vector256.Create(shift[0]);
            for (; c + 8 <= cols; c += 8)
            {
                var m = perColumn ? Avx.LoadVector256(mult + c) : mu;
                var s = perColumn ? Avx.LoadVector256(shift + c) : su;
                StoreS8(Requant<W>(Avx.LoadVector256(xr + c), m, s, LoS8, HiS8), yr + c);
            }
            for (; c < cols; c++) yr[c] = Requantize.ToS8(xr[c], mult[perColumn ? c : 0], shift[perColumn ? c : 0]);
        }
    }


    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluRowsS8<W>(int* acc, int* inMult, int* inShift, int outMult, int outShift, sbyte* y, int rows, int cols) where W : struct, IEpilogueWidth
    {
        var om = Vector256.Create(outMult);
        var os = Vector256.Create(outShift);
        var bInt = Vector256.Create(-2562);
        var cInt = Vector256.Create(-7261607);
        var negB = Vector256.Create(2562);
        for (int r = 0; r < rows; r++)
        {
            int* ar = acc + (long)r * cols;
            sbyte* yr = y + (long)r * cols;
            int c = 0;
            for (; c + 8 <= cols; c += 8)
            {
                var q = Requant<W>(Avx.LoadVector256(ar + c), Avx.LoadVector256(inMult + c), Avx.LoadVector256(inShift + c), LoS16, HiS16);
                var sgn = Avx2.Subtract(Avx2.CompareGreaterThan(Vector256<int>.Zero, q), Avx2.CompareGreaterThan(q, Vector256<int>.Zero));
                var u = Avx2.Add(Avx2.Min(Avx2.Abs(q).AsInt32(), negB), bInt);
                var erf = Avx2.MultiplyLow(sgn, Avx2.Add(Avx2.MultiplyLow(u, u), cInt));
                var t = Avx2.ShiftRightArithmetic(Avx2.Add(erf, cInt), 10);
                var g = Avx2.MultiplyLow(Avx2.Subtract(Vector256<int>.Zero, q), t);
                StoreS8(Requant<W>(g, om, os, LoS8, HiS8), yr + c);
            }
            for (; c < cols; c++)
                yr[c] = Requantize.ToS8(GeluFixedPoint.Apply(Requantize.Apply(ar[c], inMult[c], inShift[c])), outMult, outShift);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxRow<W>(int* acc, int n, int multiplier, int shift, int* x, byte* p) where W : struct, IEpilogueWidth
    {
        if (n > SoftmaxFixedPoint.MaxRow) throw new ArgumentOutOfRangeException(nameof(n), $"softmax row of {n} exceeds {SoftmaxFixedPoint.MaxRow}");
        var m = Vector256.Create(multiplier);
        var s = Vector256.Create(shift);
        int i = 0;
        var vmax = Vector256.Create(int.MinValue);
        for (; i + 8 <= n; i += 8)
        {
            var v = Requant<W>(Avx.LoadVector256(acc + i), m, s, LoS32, HiS32);
            Avx.Store(x + i, v);
            vmax = Avx2.Max(vmax, v);
        }
        int max = int.MinValue;
        for (int l = 0; l < 8; l++) max = Math.Max(max, vmax.GetElement(l));
        for (; i < n; i++)
        {
            x[i] = Requantize.Apply(acc[i], multiplier, shift);
            max = Math.Max(max, x[i]);
        }
        // d = max(x, max − 30·256) − max, exactly the reference's clamp, without int32 overflow.
        int lower = (int)Math.Max((long)max - (30 << SoftmaxFixedPoint.InputFracBits), int.MinValue);
        var vl = Vector256.Create(lower);
        var vm = Vector256.Create(max);
        var b = Vector256.Create(499);
        var cc = Vector256.Create(130887);
        var vsum = Vector256<int>.Zero;
        i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var d = Avx2.Subtract(Avx2.Max(Avx.LoadVector256(x + i), vl), vm);
            var q = Avx2.ShiftRightArithmetic(Avx2.Subtract(Vector256<int>.Zero, d), 8);
            var t = Avx2.Add(Avx2.Add(d, Avx2.ShiftLeftLogical(q, 8)), b);
            var z = Avx2.ShiftRightArithmeticVariable(Avx2.Add(Avx2.MultiplyLow(t, t), cc), q.AsUInt32());
            Avx.Store(x + i, z);
            vsum = Avx2.Add(vsum, z);
        }
        int sum = 0;
        for (int l = 0; l < 8; l++) sum += vsum.GetElement(l);
        for (; i < n; i++)
        {
            x[i] = SoftmaxFixedPoint.Exp(x[i], max);
            sum += x[i];
        }
        long recip = (1L << 46) / sum;
        var vr = Vector256.Create((int)recip); // recip ≤ 2^46 / (b² + c) < 2^29
        var half = Vector256.Create(1L << 37);
        var cap = Vector256.Create(255);
        i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var z = Avx.LoadVector256(x + i);
            var pe = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(z, vr), half), 38);
            var po = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(Avx2.ShiftRightLogical(z.AsInt64(), 32).AsInt32(), vr), half), 38);
            var v = Avx2.Min(Avx2.Blend(pe.AsInt32(), Avx2.ShiftLeftLogical(po, 32).AsInt32(), 0b1010_1010), cap);
            var s16 = Avx2.PackUnsignedSaturate(v, v);
            var u8 = Avx2.PackUnsignedSaturate(s16.AsInt16(), s16.AsInt16());
            *(int*)(p + i) = u8.AsInt32().GetElement(0);
            *(int*)(p + i + 4) = u8.AsInt32().GetElement(4);
        }
        for (; i < n; i++) p[i] = (byte)Math.Min((x[i] * recip + (1L << 37)) >> 38, 255);
    }
}
