using EdgeQuant.Format;

namespace EdgeQuant.Engine.Decoder;

/// <summary>
/// An immutable, memory-mapped decoder language model (architecture "decoder"). Validates the metadata and every
/// tensor once, at load; safe to share between threads, each of which creates its own <see cref="DecoderSession"/>.
/// </summary>
public sealed unsafe class DecoderModel : IDisposable
{
    private readonly ModelFile _file;

    /// <summary>Hyper-parameters.</summary>
    public DecoderConfig Config { get; }
    /// <summary>Parsed metadata.</summary>
    public ModelMetadata Metadata => _file.Metadata;
    /// <summary>The underlying validated file.</summary>
    public ModelFile File => _file;
    /// <summary>True when the linears are quantized (int8 or 4-bit weights, int8 activations per token).</summary>
    public bool IsQuantized => Config.Quant != null;

    internal readonly float* Embedding;   // [vocab, D] float models
    internal readonly DecoderLinear EmbeddingQ; // int8 rows [vocab, D] with a scale per row (quantized models)
    internal readonly float* Positions;   // [max positions, D] (learned positions only)
    internal readonly float* RopeInvFreq; // [head dim / 2] (rotary only)
    internal readonly DecoderNorm FinalNorm;
    internal readonly DecoderLinear LmHead; // default (Kind F32, null weights) when tied and float
    internal readonly DecoderBlock[] Blocks;

    /// <summary>Largest hidden size, MLP size, head count and layer count this build accepts.</summary>
    public const int MaxHidden = 65536, MaxMlp = 1 << 20, MaxHeads = 1024, MaxLayers = 1024;

    private DecoderModel(ModelFile file)
    {
        _file = file;
        var m = file.Metadata;
        if (m.Architecture != Schema.Architectures.Decoder)
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"architecture '{m.Architecture}' is an encoder; load it with Model.Load");
        Config = m.Decoder ?? throw new ModelFormatException(ModelFormatError.BadMetadata, "decoder model has no decoder description");
        var c = Config;
        Validate(c, m.Precision);
        int d = c.Hidden, qd = c.Heads * c.HeadDim, kvd = c.KvHeads * c.HeadDim;
        (WeightKind kind, int group) = c.Quant == null ? (WeightKind.F32, 0)
            : c.Quant.Weights == Schema.DecoderWeightKinds.S4Group ? (WeightKind.S4Group, c.Quant.GroupSize) : (WeightKind.S8, 0);
        if (c.Quant == null) Embedding = FiniteF32.Require(file, DecoderTensors.Embedding, c.VocabSize, d);
        else EmbeddingQ = DecoderLinear.Load(file, DecoderTensors.Embedding, c.VocabSize, d, false, WeightKind.S8, 0);
        if (c.Positions == Schema.PositionKinds.Learned) Positions = FiniteF32.Require(file, DecoderTensors.Positions, c.MaxPositions, d);
        else
        {
            RopeInvFreq = FiniteF32.Require(file, DecoderTensors.RopeInvFreq, c.HeadDim / 2);
            for (int i = 0; i < c.HeadDim / 2; i++)
                if (!(RopeInvFreq[i] >= 0 && RopeInvFreq[i] <= 1))
                    throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor '{DecoderTensors.RopeInvFreq}': value {i} is {RopeInvFreq[i]}; rotary inverse frequencies are in [0, 1]");
        }
        bool ln = c.Norm == Schema.NormKinds.LayerNorm;
        FinalNorm = DecoderNorm.Load(file, DecoderTensors.FinalNorm, d, ln);
        Blocks = new DecoderBlock[c.Layers];
        for (int i = 0; i < c.Layers; i++)
        {
            string p = DecoderTensors.Block(i);
            Blocks[i] = new DecoderBlock
            {
                AttnNorm = DecoderNorm.Load(file, p + DecoderTensors.AttnNorm, d, ln),
                MlpNorm = DecoderNorm.Load(file, p + DecoderTensors.MlpNorm, d, ln),
                Q = DecoderLinear.Load(file, p + DecoderTensors.Q, qd, d, c.QkvBias, kind, group),
                K = DecoderLinear.Load(file, p + DecoderTensors.K, kvd, d, c.QkvBias, kind, group),
                V = DecoderLinear.Load(file, p + DecoderTensors.V, kvd, d, c.QkvBias, kind, group),
                O = DecoderLinear.Load(file, p + DecoderTensors.O, d, qd, c.OutBias, kind, group),
                Gate = c.GatedMlp ? DecoderLinear.Load(file, p + DecoderTensors.Gate, c.MlpDim, d, c.MlpBias, kind, group) : default,
                Up = DecoderLinear.Load(file, p + DecoderTensors.Up, c.MlpDim, d, c.MlpBias, kind, group),
                Down = DecoderLinear.Load(file, p + DecoderTensors.Down, d, c.MlpDim, c.MlpBias, kind, group),
            };
        }
        // The LM head: its own linear (int8 in quantized files), or the embedding when tied (then int8 rows too).
        if (c.TiedEmbeddings && c.Quant != null) LmHead = EmbeddingQ;
        else if (c.Quant != null) LmHead = DecoderLinear.Load(file, DecoderTensors.LmHead, c.VocabSize, d, false, WeightKind.S8, 0);
        else if (!c.TiedEmbeddings) LmHead = DecoderLinear.Load(file, DecoderTensors.LmHead, c.VocabSize, d, false, WeightKind.F32, 0);
        else LmHead = DecoderLinear.Tied(Embedding, c.VocabSize, d);
    }

    private static void Validate(DecoderConfig c, string precision)
    {
        static void Fail(string msg) => throw new ModelFormatException(ModelFormatError.BadMetadata, msg);
        if (c.VocabSize <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KvHeads <= 0 || c.HeadDim <= 0 || c.MlpDim <= 0 || c.MaxPositions <= 0)
            Fail("decoder dims must be positive");
        if (c.VocabSize > Model.MaxVocabulary || c.Hidden > MaxHidden || c.MlpDim > MaxMlp || c.Heads > MaxHeads || c.Layers > MaxLayers
            || (long)c.Heads * c.HeadDim > MaxHidden || c.MaxPositions > 1 << 24)
            Fail($"decoder dims exceed this build's limits (vocabulary {Model.MaxVocabulary}, hidden {MaxHidden}, MLP {MaxMlp}, heads {MaxHeads}, layers {MaxLayers}, heads × head dim {MaxHidden}, 2^24 positions)");
        if (c.Heads % c.KvHeads != 0) Fail($"{c.Heads} query heads are not a multiple of {c.KvHeads} key/value heads");
        if (!Schema.NormKinds.All.Contains(c.Norm)) Fail($"norm '{c.Norm}' is not supported ({Schema.List(Schema.NormKinds.All)})");
        if (!Schema.Activations.Decoder.Contains(c.Activation)) Fail($"activation '{c.Activation}' is not supported in a decoder ({Schema.List(Schema.Activations.Decoder)})");
        if (!Schema.PositionKinds.All.Contains(c.Positions)) Fail($"positions '{c.Positions}' are not supported ({Schema.List(Schema.PositionKinds.All)})");
        if (c.Positions != Schema.PositionKinds.Learned && c.HeadDim % 2 != 0) Fail($"rotary embeddings need an even head size, not {c.HeadDim}");
        if (!(c.NormEps > 0 && c.NormEps < 1)) Fail($"norm epsilon {c.NormEps} must be in (0, 1)");
        if (c.BosId >= c.VocabSize || c.BosId < -1) Fail($"BOS id {c.BosId} is outside the vocabulary");
        foreach (int e in c.EosIds ?? []) if ((uint)e >= (uint)c.VocabSize) Fail($"EOS id {e} is outside the vocabulary");
        if ((precision == Schema.Precisions.Int8) != (c.Quant != null)) Fail($"precision '{precision}' does not match the decoder's weight quantization ({(c.Quant == null ? "none" : c.Quant.Weights)})");
        if (c.Quant is { } q)
        {
            if (q.Weights is not (Schema.DecoderWeightKinds.S8Channel or Schema.DecoderWeightKinds.S4Group))
                Fail($"decoder weights '{q.Weights}' are not supported ({Schema.DecoderWeightKinds.S8Channel}, {Schema.DecoderWeightKinds.S4Group})");
            if (q.HeadWeights != Schema.DecoderWeightKinds.S8Channel) Fail($"LM head weights '{q.HeadWeights}' are not supported ({Schema.DecoderWeightKinds.S8Channel})");
            if (q.Weights == Schema.DecoderWeightKinds.S4Group && q.GroupSize is not (32 or 64 or 128)) Fail($"4-bit group size {q.GroupSize} is not supported (32, 64, 128)");
            if (c.Hidden > Kernels.Reference.GemmS8Reference.MaxK || c.MlpDim > Kernels.Reference.GemmS8Reference.MaxK || (long)c.Heads * c.HeadDim > Kernels.Reference.GemmS8Reference.MaxK)
                Fail($"quantized linears take at most {Kernels.Reference.GemmS8Reference.MaxK} inputs");
        }
    }

    /// <summary>Memory-maps, validates and prepares a decoder model file.</summary>
    /// <param name="path">Path of an .eqm file.</param>
    /// <param name="verifyChecksums">Check the CRC-32 of every tensor (touches every page once).</param>
    public static DecoderModel Load(string path, bool verifyChecksums = true) => Wrap(ModelFile.Open(path, verifyChecksums));

    /// <summary>Loads a decoder model from bytes in memory.</summary>
    public static DecoderModel Load(ReadOnlySpan<byte> bytes, bool verifyChecksums = true) => Wrap(ModelFile.FromMemory(bytes, verifyChecksums));

    private static DecoderModel Wrap(ModelFile file)
    {
        try { return new DecoderModel(file); }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Creates a session (one per thread) with its own key/value cache and arena.</summary>
    public DecoderSession CreateSession(DecoderSessionOptions? options = null) => new(this, options ?? new DecoderSessionOptions());

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}

/// <summary>The weights of one decoder block.</summary>
internal sealed class DecoderBlock
{
    public DecoderNorm AttnNorm, MlpNorm;
    public DecoderLinear Q, K, V, O, Gate, Up, Down;
}

/// <summary>RMSNorm (weight) or LayerNorm (weight and bias) parameters [D].</summary>
internal readonly unsafe struct DecoderNorm(float* gamma, float* beta, int dim)
{
    public ReadOnlySpan<float> Gamma => new(gamma, dim);
    /// <summary>Empty for RMSNorm.</summary>
    public ReadOnlySpan<float> Beta => beta == null ? default : new(beta, dim);

    public static DecoderNorm Load(ModelFile f, string prefix, int dim, bool layerNorm) => new(
        FiniteF32.Require(f, prefix + DecoderTensors.Gamma, dim),
        layerNorm ? FiniteF32.Require(f, prefix + DecoderTensors.Beta, dim) : null, dim);
}
