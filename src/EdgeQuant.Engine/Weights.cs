using EdgeQuant.Format;

namespace EdgeQuant.Engine;

/// <summary>F32 tensors the engine computes with: present, of the expected shape, and every value finite.</summary>
internal static unsafe class FiniteF32
{
    /// <summary>Largest dequantization scale a file may hold: 2^31 · 1e20 stays far below float's range.</summary>
    public const float MaxDequantScale = 1e20f;

    /// <summary>The tensor's data; NaN or ±∞ anywhere is refused (naming the tensor and the index) instead of giving non-finite outputs.</summary>
    public static float* Require(ModelFile f, string name, params int[] dims)
    {
        var e = f.Require(name, TensorDType.F32, dims);
        var p = (float*)f.Pointer(e);
        long n = e.Size / sizeof(float);
        for (long i = 0; i < n; i++)
            if (!float.IsFinite(p[i])) throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}': value {i} is {p[i]}; weights must be finite");
        return p;
    }
}

/// <summary>A float linear layer stored [out, in] with bias [out].</summary>
internal readonly unsafe struct LinearF32(float* w, float* b, int outDim, int inDim)
{
    public readonly int Out = outDim, In = inDim;
    public ReadOnlySpan<float> W => new(w, Out * In);   // [out, in]
    public ReadOnlySpan<float> B => new(b, Out);        // [out]

    public static LinearF32 Load(ModelFile f, string prefix, int outDim, int inDim) => new(
        FiniteF32.Require(f, prefix + ".w", outDim, inDim),
        FiniteF32.Require(f, prefix + ".b", outDim), outDim, inDim);
}

/// <summary>
/// An integer linear layer: s8 weights [out, in] (or packed 4-bit weights, ".w4"), s32 bias [out] (in units of
/// in_scale·w_scale[o]), and either per-channel requantization (M, s) into an integer output domain or per-channel
/// dequantization scales to float.
/// </summary>
internal readonly unsafe struct LinearS8
{
    public readonly int Out, In;
    private readonly sbyte* _w;
    private readonly byte* _w4;
    private readonly int* _b, _rq, _wsum;
    private readonly float* _dq;

    private LinearS8(sbyte* w, byte* w4, int* b, int* rq, float* dq, int* wsum, int outDim, int inDim)
    {
        _w = w; _w4 = w4; _b = b; _rq = rq; _dq = dq; _wsum = wsum; Out = outDim; In = inDim;
    }

    /// <summary>True for 7-bit weights with per-channel sums (the u8×s7 GEMM path).</summary>
    public bool SevenBit => _wsum != null && _w4 == null;
    /// <summary>True for packed 4-bit weights (<see cref="W4"/>, the s8×s4 GEMM).</summary>
    public bool FourBit => _w4 != null;
    public ReadOnlySpan<int> WeightSums => new(_wsum, Out);  // [out]

    public ReadOnlySpan<sbyte> W => new(_w, Out * In);         // [out, in]
    public ReadOnlySpan<byte> W4 => new(_w4, Out * W4RowBytes); // [out, RowBytes(in)], layout S4Blocks32
    public int W4RowBytes => Kernels.Reference.GemmS4Reference.RowBytes(In);
    public ReadOnlySpan<int> Bias => new(_b, Out);             // [out]
    public ReadOnlySpan<int> Multipliers => new(_rq, Out);     // [out]
    public ReadOnlySpan<int> Shifts => new(_rq + Out, Out);    // [out]
    public ReadOnlySpan<float> DequantScales => new(_dq, Out); // [out]

    /// <summary>
    /// Loads "prefix.w/.b" plus "prefix.rq" (requantized output) or "prefix.dq" (float output); for 7-bit weights also
    /// "prefix.wsum". The weight range the kernels rely on ([−127, 127], or [−63, 63] with exact sums) is checked here.
    /// In a W4 model (<paramref name="weightBits"/> 4) a linear is either packed 4-bit ("prefix.w4" + ".wsum") or
    /// 8-bit (layers kept at 8 bits: patch embedding, head, and those the mixed-precision search chose).
    /// </summary>
    public static LinearS8 Load(ModelFile f, string prefix, int outDim, int inDim, bool requantized, int weightBits)
    {
        var b = (int*)f.Pointer(f.Require(prefix + ".b", TensorDType.S32, outDim));
        if (f.TryGetTensor(prefix + ".w4", out _))
        {
            if (weightBits != 4)
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.w4': 4-bit weights in a model whose metadata says {weightBits}-bit");
            byte* w4 = LoadFourBit(f, prefix, outDim, inDim, out int* sums);
            return Finish(f, prefix, null, w4, b, sums, outDim, inDim, requantized);
        }
        var w = (sbyte*)f.Pointer(f.Require(prefix + ".w", TensorDType.S8, outDim, inDim));
        int* wsum = weightBits == 7 ? (int*)f.Pointer(f.Require(prefix + ".wsum", TensorDType.S32, outDim)) : null;
        sbyte limit = weightBits == 7 ? (sbyte)63 : (sbyte)127;
        for (int o = 0; o < outDim; o++)
        {
            var row = new ReadOnlySpan<sbyte>(w + (long)o * inDim, inDim);
            if (row.IndexOfAnyExceptInRange((sbyte)-limit, limit) >= 0)
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.w': row {o} has a weight outside [-{limit}, {limit}] ({weightBits}-bit weights)");
            if (wsum == null) continue;
            int sum = 0;
            foreach (sbyte v in row) sum += v;
            if (sum != wsum[o]) throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.wsum': channel {o} is {wsum[o]}, the weights sum to {sum}");
        }
        return Finish(f, prefix, w, null, b, wsum, outDim, inDim, requantized);
    }

    /// <summary>
    /// "prefix.w4" (u8 [out, RowBytes(in)], layout S4Blocks32) and "prefix.wsum": every nibble in [−7, 7], padding
    /// nibbles 0, sums exact (the SIMD paths rely on all three).
    /// </summary>
    private static byte* LoadFourBit(ModelFile f, string prefix, int outDim, int inDim, out int* wsum)
    {
        int rb = Kernels.Reference.GemmS4Reference.RowBytes(inDim);
        var e = f.Require(prefix + ".w4", TensorDType.U8, outDim, rb);
        if (e.Layout != TensorLayout.S4Blocks32)
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.w4' has layout {e.Layout}, expected {TensorLayout.S4Blocks32}");
        var w4 = (byte*)f.Pointer(e);
        wsum = (int*)f.Pointer(f.Require(prefix + ".wsum", TensorDType.S32, outDim));
        for (int o = 0; o < outDim; o++)
        {
            var row = new ReadOnlySpan<byte>(w4 + (long)o * rb, rb);
            int sum = 0;
            for (int p = 0; p < 2 * rb; p++)
            {
                int v = Kernels.Reference.GemmS4Reference.Get(row, p);
                if (v == -8 || (p >= inDim && v != 0))
                    throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.w4': row {o} weight {p} is {v} ({(v == -8 ? "outside [-7, 7]" : "padding must be 0")})");
                sum += v;
            }
            if (sum != wsum[o]) throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.wsum': channel {o} is {wsum[o]}, the weights sum to {sum}");
        }
        return w4;
    }

    private static LinearS8 Finish(ModelFile f, string prefix, sbyte* w, byte* w4, int* b, int* wsum, int outDim, int inDim, bool requantized)
    {
        if (requantized)
        {
            var rq = (int*)f.Pointer(f.Require(prefix + ".rq", TensorDType.S32, 2, outDim));
            for (int i = 0; i < outDim; i++)
                if (!Kernels.Reference.Requantize.IsCanonical(rq[i], rq[outDim + i]))
                    throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.rq': channel {i} has invalid multiplier/shift ({rq[i]}, {rq[outDim + i]}); expected a Q31 multiplier in [2^30, 2^31) and a shift in [1, 62]");
            return new LinearS8(w, w4, b, rq, null, wsum, outDim, inDim);
        }
        var dq = (float*)f.Pointer(f.Require(prefix + ".dq", TensorDType.F32, outDim));
        for (int i = 0; i < outDim; i++)
            if (!(dq[i] >= 0 && dq[i] <= FiniteF32.MaxDequantScale))
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.dq': channel {i} scale {dq[i]} is not in [0, {FiniteF32.MaxDequantScale:G}] (an int32 sum times it must stay finite)");
        return new LinearS8(w, w4, b, null, dq, wsum, outDim, inDim);
    }
}

/// <summary>LayerNorm affine parameters [dim].</summary>
internal readonly unsafe struct NormParams(float* gamma, float* beta, int dim)
{
    public ReadOnlySpan<float> Gamma => new(gamma, dim);
    public ReadOnlySpan<float> Beta => new(beta, dim);

    public static NormParams Load(ModelFile f, string prefix, int dim) => new(
        FiniteF32.Require(f, prefix + ".g", dim),
        FiniteF32.Require(f, prefix + ".b", dim), dim);
}

/// <summary>Weights of one encoder block; the float or the int8 set is filled, per the model's precision.</summary>
internal sealed class BlockWeights
{
    public NormParams Ln1, Ln2;
    public LinearF32 QkvF, OutF, Fc1F, Fc2F;
    public LinearS8 QkvQ, OutQ, Fc1Q, Fc2Q;
    public BlockQuant? Quant;
    /// <summary>Integer profile: LayerNorm parameters [3, D] (G, B, shift) into the residual scale, and the requantization of the stream into the two linear inputs.</summary>
    public int[]? Ln1Q, Ln2Q;
    public (int Multiplier, int Shift) ToAttnInput, ToMlpInput;
    /// <summary>SmoothQuant: per-channel quantization multipliers [D] of the QKV / fc1 inputs (1 / (s_j · scale)); null = per-tensor.</summary>
    public float[]? QkvSmooth, Fc1Smooth;

    /// <summary>Loads an optional per-channel input multiplier "prefix.smooth" [dim] (finite, positive).</summary>
    public static unsafe float[]? LoadSmooth(ModelFile f, string prefix, int dim)
    {
        if (!f.TryGetTensor(prefix + ".smooth", out _)) return null;
        var v = f.Data<float>(f.Require(prefix + ".smooth", TensorDType.F32, dim)).ToArray();
        for (int i = 0; i < v.Length; i++)
            if (!float.IsFinite(v[i]) || !(v[i] > 0))
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.smooth': channel {i} multiplier {v[i]} is not a positive finite number");
        return v;
    }
}

/// <summary>An embedding table [rows, dim]: float, or int8 with one symmetric scale per row (".scale" [rows]).</summary>
internal readonly unsafe struct EmbeddingTable
{
    public readonly int Rows, Dim;
    private readonly float* _f, _scale;
    private readonly sbyte* _q;

    private EmbeddingTable(float* f, sbyte* q, float* scale, int rows, int dim)
    {
        _f = f; _q = q; _scale = scale; Rows = rows; Dim = dim;
    }

    /// <summary>dst [dim] += row <paramref name="row"/> (dequantized for int8 tables).</summary>
    public void AddRow(int row, Span<float> dst)
    {
        CheckRow(row, dst.Length);
        if (_f != null)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dst, new ReadOnlySpan<float>(_f + (long)row * Dim, Dim), dst);
            return;
        }
        sbyte* q = _q + (long)row * Dim;
        float s = _scale[row];
        for (int j = 0; j < Dim; j++) dst[j] += q[j] * s;
    }

    /// <summary>Integer profile: dst [dim] += row <paramref name="row"/> requantized into the residual scale by (<paramref name="rq"/>[row], rq[rows + row]).</summary>
    public void AddRowRequantized(int row, int[] rq, Span<int> dst)
    {
        CheckRow(row, dst.Length);
        sbyte* q = _q + (long)row * Dim;
        int mult = rq[row], shift = rq[Rows + row];
        for (int j = 0; j < Dim; j++) dst[j] += Kernels.Reference.Requantize.Apply(q[j], mult, shift);
    }

    /// <summary>
    /// Second line of defence behind the load-time metadata checks: a row index derived from file metadata (position
    /// offsets) or input ids is compared once per row, so no index reaches raw pointer arithmetic unchecked.
    /// </summary>
    private void CheckRow(int row, int dstLength)
    {
        if ((uint)row >= (uint)Rows) ThrowRow(row);
        if (dstLength < Dim) throw new ArgumentException($"destination has {dstLength} values, the table rows {Dim}");
    }

    private void ThrowRow(int row) => throw new ArgumentOutOfRangeException(nameof(row), $"embedding row {row} is outside the table's {Rows} rows");

    public static EmbeddingTable Load(ModelFile f, string name, int rows, int dim, bool quantized)
    {
        if (!quantized) return new(FiniteF32.Require(f, name, rows, dim), null, null, rows, dim);
        var q = (sbyte*)f.Pointer(f.Require(name, TensorDType.S8, rows, dim));
        var s = (float*)f.Pointer(f.Require(name + ".scale", TensorDType.F32, rows));
        for (int r = 0; r < rows; r++)
            if (!float.IsFinite(s[r]) || s[r] < 0)
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{name}.scale': row {r} scale {s[r]} is not a finite non-negative number");
        return new(null, q, s, rows, dim);
    }
}

/// <summary>Embeddings, pooler, classifier and vocabulary of a text encoder. The pooler and classifier run in float in both precisions (one row).</summary>
internal sealed unsafe class TextWeights
{
    public EmbeddingTable Word, Position, Type;
    public NormParams EmbedNorm;
    public LinearF32 Pooler, Head;
    public byte* Vocab;     // UTF-8, one token per line
    public int VocabBytes;

    public static TextWeights Load(ModelFile f, TextConfig t, EncoderConfig c, bool quantized)
    {
        int d = c.Hidden;
        var w = new TextWeights
        {
            Word = EmbeddingTable.Load(f, "embed.word", t.VocabSize, d, quantized),
            Position = EmbeddingTable.Load(f, "embed.pos", t.MaxPositions, d, quantized),
            EmbedNorm = NormParams.Load(f, "embed_ln", d),
        };
        if (t.TypeVocabSize > 0) w.Type = EmbeddingTable.Load(f, "embed.type", t.TypeVocabSize, d, quantized);
        if (t.Head == Schema.TextHeads.Classification)
        {
            if (t.PoolerActivation != Schema.PoolerActivations.None) w.Pooler = LinearF32.Load(f, "pooler", d, d);
            w.Head = LinearF32.Load(f, "head", c.NumClasses, d);
        }
        if (t.Tokenizer == Schema.Tokenizers.WordPiece)
        {
            if (!f.TryGetTensor("tokenizer.vocab", out var v) || v.DType != TensorDType.U8 || v.Dims.Length != 1)
                throw new ModelFormatException(ModelFormatError.BadTensor, "tensor 'tokenizer.vocab' (u8 [bytes]) is required by the wordpiece tokenizer");
            w.Vocab = f.Pointer(v);
            w.VocabBytes = (int)v.Size;
        }
        return w;
    }
}

/// <summary>Tensors of the integer-only profile that have no mixed-profile counterpart.</summary>
internal sealed class IntegerWeights
{
    /// <summary>ViT: class/distillation tokens + positions as int32 rows [T, D] at the residual scale.</summary>
    public int[]? Tokens;
    /// <summary>Integer LayerNorm parameters [3, D] (G, B, shift): ViT final LN, text embedding LN.</summary>
    public int[]? FinalNorm, EmbedNorm;
    /// <summary>Text: per-row requantization of the int8 embedding rows into the residual scale ([2, rows]: multipliers, shifts).</summary>
    public int[]? Word, Position, Type;

    public static int[] LoadNorm(ModelFile f, string prefix, int dim)
    {
        var p = f.Data<int>(f.Require(prefix + ".q32", TensorDType.S32, 3, dim)).ToArray();
        for (int j = 0; j < dim; j++)
            if (p[2 * dim + j] is < 1 or > 62)
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.q32': channel {j} shift {p[2 * dim + j]} is outside [1, 62]");
        return p;
    }

    public static int[] LoadRows(ModelFile f, string prefix, int rows)
    {
        var p = f.Data<int>(f.Require(prefix + ".rqr", TensorDType.S32, 2, rows)).ToArray();
        for (int r = 0; r < rows; r++)
            if (p[r] < 0 || p[rows + r] is < 1 or > 62)
                throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{prefix}.rqr': row {r} has invalid multiplier/shift ({p[r]}, {p[rows + r]})");
        return p;
    }
}
