using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels;

/// <summary>
/// The integer and float kernels the engine calls. Each ISA path overrides what it accelerates;
/// every override must equal the scalar reference (<see cref="ReferenceKernels"/>) bit for bit.
/// </summary>
public abstract class KernelSet
{
    /// <summary>Path name, e.g. "reference".</summary>
    public abstract string Name { get; }

    /// <summary>s8 × s8 → s32, NT form (see <see cref="GemmS8Reference.GemmS8S8"/>).</summary>
    public virtual void GemmS8S8(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
        => GemmS8Reference.GemmS8S8(a, lda, b, ldb, bias, c, ldc, m, n, k);

    /// <summary>
    /// s8 × s7 → s32, NT form: as <see cref="GemmS8S8"/> for weights B in [−63, 63] with <paramref name="wsum"/>[n] = Σ_k B[n, k]
    /// (lets x64 use the u8×s8 vpmaddubsw path exactly). Paths without such a trick compute the plain GEMM.
    /// </summary>
    public virtual void GemmS8S7(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum, Span<int> c, int ldc, int m, int n, int k)
        => GemmS8S8(a, lda, b, ldb, bias, c, ldc, m, n, k);

    /// <summary>
    /// s8 × s4 → s32, NT form, B packed 4-bit (see <see cref="GemmS4Reference"/>; <paramref name="ldb"/> in bytes) with
    /// <paramref name="wsum"/>[n] = Σ_k B[n, k]. x64 unpacks 16-column panels for its u8×s4 outer-product tiles; arm64 (and
    /// x64 below 4 rows) unpacks blocks of B and runs its s8 × s7 GEMM (<see cref="GemmS4Unpacked"/>).
    /// </summary>
    public virtual void GemmS8S4(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum, Span<int> c, int ldc, int m, int n, int k)
        => GemmS4Reference.GemmS8S4(a, lda, b, ldb, bias, c, ldc, m, n, k);

    /// <summary>
    /// s8 × 4-bit weights (S4Panels8 layout) with per-group scales → f32 (decoder linears; see
    /// <see cref="GemmS4GroupedReference"/>). Exact group dot products, then the reference's float steps per output.
    /// </summary>
    public virtual void GemmS8S4Grouped(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<float> aScale, ReadOnlySpan<byte> b,
        ReadOnlySpan<ushort> bScale, Span<float> c, int ldc, int m, int n, int k, int group)
        => GemmS4GroupedReference.Gemm(a, lda, aScale, b, bScale, c, ldc, m, n, k, group);

    /// <summary>u8 × s8 → s32, NT form (see <see cref="GemmS8Reference.GemmU8S8"/>).</summary>
    public virtual void GemmU8S8(ReadOnlySpan<byte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
        => GemmS8Reference.GemmU8S8(a, lda, b, ldb, bias, c, ldc, m, n, k);

    /// <summary>Per-column requantization of s32 rows to s8 (see <see cref="Requantize"/>).</summary>
    public virtual void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<sbyte> y, int ldy, int rows, int cols)
        => Requantize.RowsToS8(x, ldx, multipliers, shifts, y, ldy, rows, cols);

    /// <summary>Requantization of s32 rows to s8 with one (M, s) for all columns.</summary>
    public virtual void RequantizeRowsS8(ReadOnlySpan<int> x, int ldx, int multiplier, int shift, Span<sbyte> y, int ldy, int rows, int cols)
        => Requantize.RowsToS8(x, ldx, multiplier, shift, y, ldy, rows, cols);

    /// <summary>Fixed-point softmax of one row (see <see cref="SoftmaxFixedPoint.Row"/>).</summary>
    public virtual void SoftmaxRow(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> p)
        => SoftmaxFixedPoint.Row(acc, multiplier, shift, scratch, p);

    /// <summary>Softmax of one row into 4-bit log2 codes (see <see cref="SoftmaxLog2.Row"/>); reference code on every ISA.</summary>
    public virtual void SoftmaxLog2Row(ReadOnlySpan<int> acc, int multiplier, int shift, Span<int> scratch, Span<byte> codes, bool sqrt2Base)
        => SoftmaxLog2.Row(acc, multiplier, shift, scratch, codes, sqrt2Base);

    /// <summary>P·V with log2-coded probabilities: shifts and adds (see <see cref="SoftmaxLog2.GemmCodesS8"/>); reference code on every ISA.</summary>
    public virtual void GemmLog2S8(ReadOnlySpan<byte> codes, int ldp, ReadOnlySpan<sbyte> b, int ldb, Span<int> c, int ldc, int m, int n, int k, bool sqrt2Base)
        => SoftmaxLog2.GemmCodesS8(codes, ldp, b, ldb, c, ldc, m, n, k, sqrt2Base);

    /// <summary>Fixed-point GELU epilogue (see <see cref="GeluFixedPoint.RowsToS8"/>).</summary>
    public virtual void GeluRowsS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> inMultipliers, ReadOnlySpan<int> inShifts, int outMultiplier, int outShift, Span<sbyte> y, int rows, int cols)
        => GeluFixedPoint.RowsToS8(acc, inMultipliers, inShifts, outMultiplier, outShift, y, rows, cols);

    /// <summary>Integer ReLU epilogue (see <see cref="ReluReference.RowsToS8"/>).</summary>
    public virtual void ReluRowsS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<sbyte> y, int rows, int cols)
        => ReluReference.RowsToS8(acc, multipliers, shifts, y, rows, cols);

    /// <summary>Float LayerNorm (see <see cref="FloatReference.LayerNorm"/>).</summary>
    public virtual void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps, Span<float> y, int rows, int cols)
        => FloatReference.LayerNorm(x, gamma, beta, eps, y, rows, cols);

    /// <summary>Float → s8 quantization (see <see cref="FloatReference.QuantizeS8"/>).</summary>
    public virtual void QuantizeS8(ReadOnlySpan<float> x, float invScale, Span<sbyte> y)
        => FloatReference.QuantizeS8(x, invScale, y);

    /// <summary>Per-channel float → s8 quantization (see <see cref="FloatReference.QuantizeS8Channels"/>).</summary>
    public virtual void QuantizeS8Channels(ReadOnlySpan<float> x, ReadOnlySpan<float> invScales, Span<sbyte> y, int rows, int cols)
        => FloatReference.QuantizeS8Channels(x, invScales, y, rows, cols);

    /// <summary>Integer LayerNorm (integer-only profile; see <see cref="IntegerLayerNorm.Rows"/>).</summary>
    public virtual void LayerNormS32(ReadOnlySpan<int> x, long epsQ, ReadOnlySpan<int> p8, Span<sbyte> y8, ReadOnlySpan<int> p32, Span<int> y32, int rows, int cols)
        => IntegerLayerNorm.Rows(x, epsQ, p8, y8, p32, y32, rows, cols);

    /// <summary>Requantize a sublayer output into the int32 residual stream (see <see cref="IntegerLayerNorm.RequantizeAdd"/>).</summary>
    public virtual void RequantizeAddS32(ReadOnlySpan<int> acc, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<int> x, int rows, int cols)
        => IntegerLayerNorm.RequantizeAdd(acc, multipliers, shifts, x, rows, cols);

    /// <summary>Dequantize and add to the residual (see <see cref="FloatReference.DequantizeAdd"/>).</summary>
    public virtual void DequantizeAdd(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
        => FloatReference.DequantizeAdd(acc, scales, y, rows, cols);

    /// <summary>Dequantize (see <see cref="FloatReference.Dequantize"/>).</summary>
    public virtual void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, Span<float> y, int rows, int cols)
        => FloatReference.Dequantize(acc, scales, y, rows, cols);

    /// <summary>
    /// Argument checks shared by the SIMD row epilogues, which work on raw pointers: false when there is nothing to do;
    /// throws when the spans are too short for the rows, columns and strides (or the per-column parameters).
    /// </summary>
    private protected static bool CheckRows(int xLen, int ldx, int yLen, int ldy, int rows, int cols, int paramLen = int.MaxValue, int paramLen2 = int.MaxValue)
    {
        if (rows == 0 || cols == 0) return false;
        if (ldx < cols || ldy < cols || (long)(rows - 1) * ldx + cols > xLen || (long)(rows - 1) * ldy + cols > yLen)
            throw new ArgumentException("epilogue spans are too short for the given rows, columns and strides");
        if (paramLen < cols || paramLen2 < cols) throw new ArgumentException("need one multiplier and shift per column");
        return true;
    }

    /// <summary>Softmax argument check shared by the SIMD paths: false for an empty row.</summary>
    private protected static bool CheckSoftmax(int n, int scratchLen, int pLen)
    {
        if (n == 0) return false;
        if (scratchLen < n || pLen < n) throw new ArgumentException("softmax scratch/output shorter than the row");
        return true;
    }

    /// <summary>Float GEMM of the FP32 reference path (see <see cref="FloatReference.Gemm"/>).</summary>
    public virtual void GemmF32(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias, Span<float> c, int ldc, int m, int n, int k)
        => FloatReference.Gemm(a, lda, b, ldb, bias, c, ldc, m, n, k);
}

/// <summary>The scalar reference: the specification of every kernel.</summary>
public sealed class ReferenceKernels : KernelSet
{
    /// <inheritdoc/>
    public override string Name => "reference";
}

/// <summary>
/// Chooses the kernel path once at start-up. The environment variable <c>EDGEQUANT_KERNELS</c>
/// (or <see cref="Select"/>) forces a named path so tests can run every path on one machine.
/// </summary>
public static class KernelTable
{
    private static readonly KernelSet[] All = Build();

    // Best first. Each path is listed only if this CPU (or, under Native AOT on x64, the publish-time ISA) runs it.
    private static KernelSet[] Build()
    {
        var l = new List<KernelSet>();
        if (X64.Avx512Kernels.IsSupported) l.Add(new X64.Avx512Kernels());
        if (X64.Avx2Kernels.IsSupported) l.Add(new X64.Avx2Kernels());
        if (Arm64.NeonDotKernels.IsSupported) l.Add(new Arm64.NeonDotKernels());
        if (Arm64.NeonKernels.IsSupported) l.Add(new Arm64.NeonKernels());
        l.Add(new ReferenceKernels());
        return l.ToArray();
    }

    /// <summary>Names of the paths this build has that the current CPU can run, best first.</summary>
    public static IEnumerable<string> Available
    {
        get
        {
            foreach (var k in All) yield return k.Name;
        }
    }

    /// <summary>The path chosen at start-up (best for this CPU, or the one named by EDGEQUANT_KERNELS).</summary>
    public static KernelSet Default { get; } = Select(Environment.GetEnvironmentVariable("EDGEQUANT_KERNELS"));

    /// <summary>Returns the named path (null or empty = best available); throws if unknown or unsupported on this CPU.</summary>
    public static KernelSet Select(string? name)
    {
        if (string.IsNullOrEmpty(name)) return All[0];
        foreach (var k in All)
            if (string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase)) return k;
        throw new ArgumentException($"kernel path '{name}' is not available on this CPU/build; available: {string.Join(", ", Available)}");
    }
}
