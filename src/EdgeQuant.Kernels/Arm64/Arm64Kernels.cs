using System.Runtime.Intrinsics.Arm;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Arm64;

/// <summary>arm64 NEON path (Cortex-A72, Raspberry Pi 4): SMULL/SMLAL GEMMs; other kernels from the reference.</summary>
public class NeonKernels : KernelSet
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
