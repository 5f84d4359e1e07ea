using System.Runtime.Intrinsics.Arm;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Arm64;

/// <summary>arm64 NEON path (Cortex-A72, Raspberry Pi 4): SMULL/SMLAL GEMMs, NEON fixed-point epilogues; float row kernels from <see cref="VectorKernelSet"/>.</summary>
public class NeonKernels : VectorKernelSet
{
    /// <summary>True on any arm64 CPU with Advanced SIMD.</summary>
    public static bool IsSupported => AdvSimd.Arm64.IsSupported;

    /// <inheritdoc/>
    public override string Name => "neon";

    /// <summary>Whether the s8×s8 GEMM uses SDOT.</summary>
    private protected virtual bool UseDot => false;

    /// <inheritdoc/>
    public override unsafe void GemmS8S8(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        fixed (sbyte* pa = a, pb = b)
        fixed (int* pbias = bias, pc = c)
            GemmS8Neon.RunS8(pa, lda, pb, ldb, bias.IsEmpty ? null : pbias, pc, ldc, m, n, k, UseDot);
    }

    /// <inheritdoc/>
    public override void GemmS8S4(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum, Span<int> c, int ldc, int m, int n, int k)
        => GemmS4Unpacked.Run(this, a, lda, b, ldb, bias, wsum, c, ldc, m, n, k);

    /// <inheritdoc/>
    public override unsafe void GemmS8S4Grouped(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<float> aScale, ReadOnlySpan<byte> b,
        ReadOnlySpan<ushort> bScale, Span<float> c, int ldc, int m, int n, int k, int group)
    {
        GemmS4GroupedReference.Check(a.Length, lda, aScale.Length, b.Length, bScale.Length, c.Length, ldc, m, n, k, group);
        if (m == 0 || n == 0) return;
        fixed (sbyte* pa = a)
        fixed (float* pas = aScale, pc = c)
        fixed (ushort* pbs = bScale)
        fixed (byte* pb = b)
            GemmS4GroupedNeon.Run(pa, lda, pas, pb, pbs, pc, ldc, m, n, k, group, UseDot);
    }

    /// <inheritdoc/>
    public override unsafe void GemmU8S8(ReadOnlySpan<byte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        short* w = WideningScratch.Get(m * k);
        fixed (byte* pa = a)
        fixed (sbyte* pb = b)
        fixed (int* pbias = bias, pc = c)
        {
            GemmS8Neon.WidenU8(pa, lda, w, m, k);
            GemmS8Neon.RunS16(w, pb, ldb, bias.IsEmpty ? null : pbias, pc, ldc, m, n, k);
        }
    }

    /// <inheritdoc/>
    public override unsafe void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<sbyte> y, int ldy, int rows, int cols)
    {
        if (!CheckRows(x.Length, ldx, y.Length, ldy, rows, cols, multipliers.Length, shifts.Length)) return;
        fixed (int* px = x, pm = multipliers, ps = shifts)
        fixed (sbyte* py = y)
            EpiloguesNeon.RequantRowsS8(px, ldx, pm, ps, true, py, ldy, rows, cols);
    }

    /// <inheritdoc/>
    public override unsafe void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, int multiplier, int shift, Span<sbyte> y, int ldy, int rows, int cols)
    {
        if (!CheckRows(x.Length, ldx, y.Length, ldy, rows, cols)) return;
        fixed (int* px = x)
        fixed (sbyte* py = y)
            EpiloguesNeon.RequantRowsS8(px, ldx, &multiplier, &shift, false, py, ldy, rows, cols);
    }

    /// <inheritdoc/>
    public override unsafe void GeluRowsS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> inMultipliers, ReadOnlySpan<int> inShifts, int outMultiplier, int outShift, Span<sbyte> y, int rows, int cols)
    {
        if (!CheckRows(acc.Length, cols, y.Length, cols, rows, cols, inMultipliers.Length, inShifts.Length)) return;
        fixed (int* pa = acc, pm = inMultipliers, ps = inShifts)
        fixed (sbyte* py = y)
            EpiloguesNeon.GeluRowsS8(pa, pm, ps, outMultiplier, outShift, py, rows, cols);
    }

    /// <inheritdoc/>
    public override unsafe void SoftmaxRow(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> p)
    {
        int n = acc.Length;
        if (!CheckSoftmax(n, scratch.Length, p.Length)) return;
        fixed (int* pa = acc, px = scratch)
        fixed (byte* pp = p)
            EpiloguesNeon.SoftmaxRow(pa, n, multiplier, shift, px, pp);
    }
}

/// <summary>arm64 dot-product path (Cortex-A76, Raspberry Pi 5): SDOT GEMMs; chosen at run time when the CPU has it.</summary>
public sealed class NeonDotKernels : NeonKernels
{
    /// <summary>True when the CPU implements the dot-product extension (checked at run time, also under Native AOT).</summary>
    public static new bool IsSupported => Dp.IsSupported;

    /// <inheritdoc/>
    public override string Name => "neon-dot";

    private protected override bool UseDot => true;
}
