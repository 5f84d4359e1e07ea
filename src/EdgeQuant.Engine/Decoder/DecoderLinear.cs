using EdgeQuant.Format;
using EdgeQuant.Kernels;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Decoder;

/// <summary>
/// One linear layer of a decoder, y[m, out] = x[m, in]·Wᵀ (+ b), stored as float, per-channel int8 or per-group 4-bit
/// (<see cref="DecoderTensors"/>). Quantized layers take their input already quantized per row (int8, row scale) and
/// dequantize each int32 sum with row scale × weight scale; 4-bit layers sum one int32 dot product per group of K and
/// add the groups in float in index order, so the result is the same on every ISA.
/// </summary>
internal readonly unsafe struct DecoderLinear
{
    public readonly int Out, In, GroupSize, Groups;
    public readonly WeightKind Kind;
    private readonly float* _wf, _b, _s; // [out, in] float weights; [out] bias; [out] int8 weight scales
    private readonly ushort* _s16;        // [ceil(out/8), groups, 8] bfloat16 4-bit group scales
    private readonly sbyte* _q;           // [out, in]
    private readonly byte* _q4;           // [ceil(out/8), PanelBytes(in)], S4Panels8

    private DecoderLinear(WeightKind kind, int outDim, int inDim, int group, float* wf, float* b, float* s, sbyte* q, byte* q4, ushort* s16 = null)
    {
        (Kind, Out, In, GroupSize) = (kind, outDim, inDim, group);
        _wf = wf; _b = b; _s = s; _q = q; _q4 = q4; _s16 = s16;
        Groups = group > 0 ? (inDim + group - 1) / group : 1;
    }

    /// <summary>A float linear over an existing table (the tied LM head of a float model: the embedding [vocab, D]).</summary>
    public static DecoderLinear Tied(float* table, int outDim, int inDim) => new(WeightKind.F32, outDim, inDim, 0, table, null, null, null, null);

    public bool HasBias => _b != null;

    /// <summary>Loads prefix + ".w" (float), ".q" + ".s" (int8) or ".q4" + ".s" (4-bit), and ".b" when <paramref name="bias"/>; checks shapes, layouts and ranges.</summary>
    public static DecoderLinear Load(ModelFile f, string prefix, int outDim, int inDim, bool bias, WeightKind kind, int group)
    {
        float* b = bias ? FiniteF32.Require(f, prefix + DecoderTensors.Bias, outDim) : null;
        switch (kind)
        {
            case WeightKind.F32:
                return new(kind, outDim, inDim, 0, FiniteF32.Require(f, prefix + DecoderTensors.FloatWeight, outDim, inDim), b, null, null, null);
            case WeightKind.S8:
            {
                string name = prefix + DecoderTensors.Int8Weight;
                var q = (sbyte*)f.Pointer(f.Require(name, TensorDType.S8, outDim, inDim));
                if (new ReadOnlySpan<sbyte>(q, checked(outDim * inDim)).IndexOf((sbyte)-128) is int at and >= 0)
                    throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}': weight {at} is -128; int8 weights are in [-127, 127]");
                return new(kind, outDim, inDim, 0, null, b, Scales(f, prefix, outDim), q, null);
            }
            default:
            {
                // Every nibble is a valid offset-binary weight (the kernels' int16 bound holds for all 16 values), and
                // padding is never stored or multiplied by a real input: shape and layout are all there is to check.
                int groups = (inDim + group - 1) / group;
                string name = prefix + DecoderTensors.Int4Weight;
                var e = f.Require(name, TensorDType.U8, (outDim + 7) / 8, GemmS4GroupedReference.PanelBytes(inDim));
                if (e.Layout != TensorLayout.S4Panels8)
                    throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}' has layout {e.Layout}, expected {TensorLayout.S4Panels8}");
                return new(kind, outDim, inDim, group, null, b, null, null, (byte*)f.Pointer(e), GroupScales(f, prefix, (outDim + 7) / 8, groups));
            }
        }
    }

    /// <summary>"P.s" of a 4-bit linear: bfloat16 [panels, groups, 8], each finite and in [0, MaxDequantScale].</summary>
    private static ushort* GroupScales(ModelFile f, string prefix, int panels, int groups)
    {
        string name = prefix + DecoderTensors.Scales;
        var s = (ushort*)f.Pointer(f.Require(name, TensorDType.BF16, panels, groups, 8));
        long n = (long)panels * groups * 8;
        for (long i = 0; i < n; i++)
        {
            float v = GemmS4GroupedReference.Bf16(s[i]);
            if (!(v >= 0 && v <= FiniteF32.MaxDequantScale))
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}': scale {i} is {v}; must be in [0, {FiniteF32.MaxDequantScale:G}]");
        }
        return s;
    }

    private static float* Scales(ModelFile f, string prefix, params int[] dims)
    {
        float* s = FiniteF32.Require(f, prefix + DecoderTensors.Scales, dims);
        long n = 1;
        foreach (int d in dims) n *= d;
        for (long i = 0; i < n; i++)
            if (!(s[i] >= 0 && s[i] <= FiniteF32.MaxDequantScale))
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}{DecoderTensors.Scales}': scale {i} is {s[i]}; must be in [0, {FiniteF32.MaxDequantScale:G}]");
        return s;
    }

    /// <summary>
    /// Columns [n0, n1) of y = x·Wᵀ + b for <paramref name="m"/> rows. Float layers read <paramref name="x"/> [m, in];
    /// quantized ones read <paramref name="xq"/> [m, in] with row scales <paramref name="xs"/> [m] and use
    /// <paramref name="acc"/> (at least m · (n1 − n0) ints) as the int32 sums.
    /// </summary>
    public void Columns(KernelSet k, ReadOnlySpan<float> x, ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xs, Span<int> acc, Span<float> y, int m, int n0, int n1)
    {
        int n = n1 - n0;
        if (n <= 0 || m <= 0) return;
        ReadOnlySpan<float> bias = _b == null ? default : new ReadOnlySpan<float>(_b + n0, n);
        var yc = y.Slice(n0, (m - 1) * Out + n);
        if (Kind == WeightKind.F32)
        {
            k.GemmF32(x, In, new ReadOnlySpan<float>(_wf + (long)n0 * In, n * In), In, bias, yc, Out, m, n, In);
            return;
        }
        var c = acc[..(m * n)]; // [m, n]
        if (Kind == WeightKind.S8)
        {
            k.GemmS8S8(xq, In, new ReadOnlySpan<sbyte>(_q + (long)n0 * In, n * In), In, default, c, n, m, n, In);
            var s = new ReadOnlySpan<float>(_s + n0, n);
            for (int r = 0; r < m; r++)
            {
                float rs = xs[r];
                var cr = c.Slice(r * n, n);
                var yr = yc.Slice(r * Out, n);
                for (int j = 0; j < n; j++) yr[j] = cr[j] * (rs * s[j]) + (bias.IsEmpty ? 0f : bias[j]);
            }
            return;
        }
        // Column ranges start on a panel (the pool splits at multiples of 16 columns).
        int pb = GemmS4GroupedReference.PanelBytes(In);
        int ps = Groups * 8; // panel-major scales: [ceil(out/8), groups, 8]
        k.GemmS8S4Grouped(xq, In, xs[..m], new ReadOnlySpan<byte>(_q4 + (long)(n0 / 8) * pb, (n + 7) / 8 * pb),
            new ReadOnlySpan<ushort>(_s16 + (long)(n0 / 8) * ps, (n + 7) / 8 * ps), yc, Out, m, n, In, GroupSize);
        if (!bias.IsEmpty)
            for (int r = 0; r < m; r++)
            {
                var yr = yc.Slice(r * Out, n);
                for (int j = 0; j < n; j++) yr[j] += bias[j];
            }
    }

    /// <summary>Row <paramref name="row"/> of an int8 linear as float (an embedding lookup): w · scale.</summary>
    public void DequantizeRow(int row, Span<float> y)
    {
        var q = new ReadOnlySpan<sbyte>(_q + (long)row * In, In);
        float s = _s[row];
        for (int j = 0; j < In; j++) y[j] = q[j] * s;
    }

    /// <summary>Per-row dynamic int8 quantization of x [m, cols] for the quantized layers: scale = max|x| / 127 (0 for a zero row).</summary>
    public static void QuantizeRows(KernelSet k, ReadOnlySpan<float> x, Span<sbyte> xq, Span<float> xs, int m, int cols)
    {
        for (int r = 0; r < m; r++)
        {
            var xr = x.Slice(r * cols, cols);
            float amax = 0;
            foreach (float v in xr) amax = MathF.Max(amax, MathF.Abs(v));
            float scale = amax / 127f;
            xs[r] = scale;
            k.QuantizeS8(xr, scale > 0 ? 127f / amax : 0f, xq.Slice(r * cols, cols));
        }
    }
}

/// <summary>How a decoder linear's weights are stored.</summary>
internal enum WeightKind
{
    /// <summary>Float.</summary>
    F32,
    /// <summary>Int8, one scale per output channel.</summary>
    S8,
    /// <summary>4-bit, one scale per output channel and group of K.</summary>
    S4Group,
}
