using System.Runtime.Intrinsics.X86;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.X64;

/// <summary>
/// x64 AVX2 path: exact int16 multiply-add GEMMs (u8×s7 vpmaddubsw for 7-bit weights), AVX2 fixed-point epilogues;
/// float row kernels from <see cref="VectorKernelSet"/>. <see cref="Avx512Kernels"/> only swaps the GEMM tiles for zmm ones.
/// </summary>
public unsafe class Avx2Kernels : VectorKernelSet
{
    /// <summary>True when the CPU (or, under Native AOT, the publish-time instruction set) has AVX2.</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <inheritdoc/>
    public override string Name => "avx2";

    /// <summary>Below this K the u8×s7 tiles lose to the int16 ones (measured: 17x192x64 and 197x197x64).</summary>
    private const int MinS7K = 256;

    /// <summary>
    /// Below this K the 4x3 ymm int16 tile beats the 4x4 zmm one on Zen 4, whose zmm ops are double-pumped and whose
    /// 16-lane tile reductions cost more per output (`EdgeQuant.Bench gemm`, GMAC/s ymm vs zmm at M = 197: K 128 43 vs 30,
    /// 256 57 vs 45, 384 63 vs 54, 512 65 vs 60, 768 70 vs 68, 1536 75 vs 78, 3072 75 vs 82).
    /// </summary>
    private const int MinZmmK = 1024;

    /// <summary>The same crossover for the u8×s7 tiles (K 256 52 vs 32, 384 62 vs 60, 768 81 vs 79, 1536 93 vs 93, 3072 97 vs 101).</summary>
    private const int MinZmmS7K = 2048;

    /// <summary>
    /// The outer-product int16 tiles (no reductions, B packed per call) win for short K with enough rows to amortize
    /// the packing (`EdgeQuant.Bench gemm`, GMAC/s dot vs outer: 197x197x64 30 vs 61, 197x64x197 37 vs 69,
    /// 128x128x64 22–32 vs 59, 197x1152x384 64 vs 70; from K = 768 on the dot tiles are as fast or faster; M = 8: 20 vs 12).
    /// </summary>
    private const int MinOuterM = 24, MaxOuterK = 400;

    /// <summary>
    /// Below one 32-element step the dot tiles are all tail, so the outer-product tiles win even for few rows
    /// (vit-mnist attention, dh = 16, T = 17: 17x17x16 9.2 → 11.6 GMAC/s, 17x16x17 9.2 → 15.4; but 17x192x64 31 → 22).
    /// </summary>
    private const int MinDotK = 32;

    /// <summary>
    /// From this many rows the 4-bit outer-product tiles (deferred widening, 6-row tiles) replace unpack + u8×s7 tiles
    /// (`EdgeQuant.Bench gemm --best`, GMAC/s unpacked vs outer: M×768×768 M = 1 25 vs 15, 2 36 vs 29, 3 (K 3072) 47 vs 38,
    /// 5 41 vs 72, 6 — vs 88).
    /// </summary>
    private const int MinOuterS4M = 4;

    /// <summary>Whether the GEMM tiles use zmm registers.</summary>
    private protected virtual bool Zmm => false;

    /// <summary>A widened to int16 [m, k], then the int16 tiles (ymm, or zmm when K is long enough).</summary>
    private void RunS16(short* w, sbyte* pb, int ldb, int* bias, int* pc, int ldc, int m, int n, int k)
    {
        if (Zmm && k >= MinZmmK) GemmS8Avx512.Run(w, pb, ldb, bias, pc, ldc, m, n, k);
        else if ((m >= MinOuterM || k < MinDotK) && k <= MaxOuterK && n >= GemmS16OuterAvx2.TileN) GemmS16OuterAvx2.Run(w, pb, ldb, bias, pc, ldc, m, n, k);
        else GemmS8Avx2.Run(w, pb, ldb, bias, pc, ldc, m, n, k);
    }

    /// <inheritdoc/>
    public override void GemmS8S8(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        short* w = WideningScratch.Get(m * k);
        fixed (sbyte* pa = a, pb = b)
        fixed (int* pbias = bias, pc = c)
        {
            GemmS8Avx2.WidenS8(pa, lda, w, m, k);
            RunS16(w, pb, ldb, bias.IsEmpty ? null : pbias, pc, ldc, m, n, k);
        }
    }

    /// <inheritdoc/>
    public override void GemmS8S4(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum, Span<int> c, int ldc, int m, int n, int k)
    {
        if (m < MinOuterS4M) { GemmS4Unpacked.Run(this, a, lda, b, ldb, bias, wsum, c, ldc, m, n, k); return; }
        if (!GemmS4Unpacked.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length, wsum.Length)) return;
        fixed (sbyte* pa = a)
        fixed (byte* pb = b)
        fixed (int* pbias = bias, pws = wsum, pc = c)
            GemmU8S4OuterAvx2.Run(pa, lda, pb, ldb, bias.IsEmpty ? null : pbias, pws, pc, ldc, m, n, k);
    }

    /// <inheritdoc/>
    public override void GemmS8S4Grouped(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<float> aScale, ReadOnlySpan<byte> b,
        ReadOnlySpan<ushort> bScale, Span<float> c, int ldc, int m, int n, int k, int group)
    {
        GemmS4GroupedReference.Check(a.Length, lda, aScale.Length, b.Length, bScale.Length, c.Length, ldc, m, n, k, group);
        if (m == 0 || n == 0) return;
        fixed (sbyte* pa = a)
        fixed (float* pas = aScale, pc = c)
        fixed (ushort* pbs = bScale)
        fixed (byte* pb = b)
        {
            if (Zmm) GemmS4GroupedAvx512.Run(pa, lda, pas, pb, pbs, pc, ldc, m, n, k, group);
            else GemmS4GroupedAvx2.Run(pa, lda, pas, pb, pbs, pc, ldc, m, n, k, group);
        }
    }

    /// <inheritdoc/>
    public override void GemmU8S8(ReadOnlySpan<byte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        short* w = WideningScratch.Get(m * k);
        fixed (byte* pa = a)
        fixed (sbyte* pb = b)
        fixed (int* pbias = bias, pc = c)
        {
            GemmS8Avx2.WidenU8(pa, lda, w, m, k);
            RunS16(w, pb, ldb, bias.IsEmpty ? null : pbias, pc, ldc, m, n, k);
        }
    }

    /// <inheritdoc/>
    public override void GemmS8S7(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum, Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS8Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        if (wsum.Length < n) throw new ArgumentException($"wsum has {wsum.Length} entries, need {n}");
        // Short rows: the 16-bit kernel is faster (fewer 32/64-byte steps to reduce), and exact for 7-bit weights too.
        if (k < MinS7K) { GemmS8S8(a, lda, b, ldb, bias, c, ldc, m, n, k); return; }
        byte* w = (byte*)WideningScratch.Get((m * k + 1) / 2);
        fixed (sbyte* pa = a, pb = b)
        fixed (int* pbias = bias, pws = wsum, pc = c)
        {
            GemmU8S7Avx2.OffsetToU8(pa, lda, w, k, m, k);
            GemmU8S7Avx2.Run(w, pb, ldb, bias.IsEmpty ? null : pbias, pws, pc, ldc, m, n, k, avx512: Zmm && k >= MinZmmS7K);
        }
    }

    /// <inheritdoc/>
    public override void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<sbyte> y, int ldy, int rows, int cols)
    {
        if (!CheckRows(x.Length, ldx, y.Length, ldy, rows, cols, multipliers.Length, shifts.Length)) return;
        fixed (int* px = x, pm = multipliers, ps = shifts)
        fixed (sbyte* py = y)
            if (Zmm) EpiloguesAvx2.RequantRowsS8<EpilogueZmm>(px, ldx, pm, ps, true, py, ldy, rows, cols);
            else EpiloguesAvx2.RequantRowsS8<EpilogueYmm>(px, ldx, pm, ps, true, py, ldy, rows, cols);
    }

    /// <inheritdoc/>
    public override void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, int multiplier, int shift, Span<sbyte> y, int ldy, int rows, int cols)
    {
        if (!CheckRows(x.Length, ldx, y.Length, ldy, rows, cols)) return;
        fixed (int* px = x)
        fixed (sbyte* py = y)
            if (Zmm) EpiloguesAvx2.RequantRowsS8<EpilogueZmm>(px, ldx, &multiplier, &shift, false, py, ldy, rows, cols);
            else EpiloguesAvx2.RequantRowsS8<EpilogueYmm>(px, ldx, &multiplier, &shift, false, py, ldy, rows, cols);
    }

    /// <inheritdoc/>
    public override void GeluRowsS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> inMultipliers, ReadOnlySpan<int> inShifts, int outMultiplier, int outShift, Span<sbyte> y, int rows, int cols)
    {
        if (!CheckRows(acc.Length, cols, y.Length, cols, rows, cols, inMultipliers.Length, inShifts.Length)) return;
        fixed (int* pa = acc, pm = inMultipliers, ps = inShifts)
        fixed (sbyte* py = y)
            if (Zmm) EpiloguesAvx2.GeluRowsS8<EpilogueZmm>(pa, pm, ps, outMultiplier, outShift, py, rows, cols);
            else EpiloguesAvx2.GeluRowsS8<EpilogueYmm>(pa, pm, ps, outMultiplier, outShift, py, rows, cols);
    }

    /// <inheritdoc/>
    public override void SoftmaxRow(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> p)
    {
        int n = acc.Length;
        if (!CheckSoftmax(n, scratch.Length, p.Length)) return;
        fixed (int* pa = acc, px = scratch)
        fixed (byte* pp = p)
            if (Zmm) EpiloguesAvx2.SoftmaxRow<EpilogueZmm>(pa, n, multiplier, shift, px, pp);
            else EpiloguesAvx2.SoftmaxRow<EpilogueYmm>(pa, n, multiplier, shift, px, pp);
    }
}

/// <summary>x64 AVX-512BW path: the AVX2 path with 4x4 zmm GEMM tiles for long K (≥ 1024 int16, ≥ 2048 u8×s7) and AVX-512 requantization in the epilogues.</summary>
public sealed class Avx512Kernels : Avx2Kernels
{
    /// <summary>True when the CPU (or the publish-time instruction set) has AVX-512 BW.</summary>
    public static new bool IsSupported => Avx512BW.IsSupported;

    /// <inheritdoc/>
    public override string Name => "avx512";

    private protected override bool Zmm => true;
}
