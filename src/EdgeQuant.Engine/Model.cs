using EdgeQuant.Engine.Graph;
using EdgeQuant.Engine.Tokenization;
using EdgeQuant.Format;

namespace EdgeQuant.Engine;

/// <summary>
/// An immutable, memory-mapped EdgeQuant model. Validates the file and every tensor the encoder needs once, at load;
/// safe to share between threads, each of which creates its own <see cref="Session"/>.
/// </summary>
public sealed unsafe class Model : IDisposable
{
    private readonly ModelFile _file;

    /// <summary>Parsed metadata.</summary>
    public ModelMetadata Metadata => _file.Metadata;
    /// <summary>Encoder hyper-parameters.</summary>
    public EncoderConfig Config { get; }
    /// <summary>Image input description (null for text models).</summary>
    public ImageConfig? Image { get; }
    /// <summary>Text input description (null for image models).</summary>
    public TextConfig? Text { get; }
    /// <summary>True for BERT-family text encoders (token ids in), false for ViTs (images in).</summary>
    public bool IsText => Text != null;
    /// <summary>True for int8 weights and integer kernels, false for the FP32 reference path.</summary>
    public bool IsQuantized { get; }
    /// <summary>True for the integer-only profile (int32 residual stream, integer LayerNorm); false for mixed and FP32.</summary>
    public bool IsIntegerOnly { get; }
    /// <summary>The underlying validated file.</summary>
    public ModelFile File => _file;

    /// <summary>Elements of one input image, C·H·W (0 for text models).</summary>
    public int InputLength => Image is { } im ? im.Channels * im.Height * im.Width : 0;
    /// <summary>Number of image patches (0 for text models).</summary>
    public int Patches => Image is { } im && Plan == null ? (im.Height / im.PatchSize) * (im.Width / im.PatchSize) : 0;
    /// <summary>Length of one flattened patch, C·p·p (0 for text models and plan-graph stems).</summary>
    public int PatchLength => Image is { } im && Plan == null ? im.Channels * im.PatchSize * im.PatchSize : 0;
    /// <summary>Stem and head op graphs around the blocks (null: the fixed conv-stem template).</summary>
    public PlanConfig? Plan { get; }
    internal readonly GraphProgram? Stem, Head;
    /// <summary>Number of outputs: classes, or the hidden size for text embedding models.</summary>
    public int OutputLength => Text is { Head: Schema.TextHeads.Embedding } ? Config.Hidden : Config.NumClasses;
    /// <summary>Longest token sequence a text model takes (special tokens included); the sequence length of a ViT.</summary>
    public int MaxTokens => Config.SeqLen;

    /// <summary>How the INT8 attention stores probabilities: "u8", "u4" or "log2" (see <see cref="QuantConfig.AttentionProbs"/>).</summary>
    internal string AttentionProbs { get; }

    internal readonly LinearF32 PatchF, HeadF;
    internal readonly LinearS8 PatchQ, HeadQ;
    internal readonly NormParams FinalNorm;
    internal readonly float* ClassToken; // [D]
    internal readonly float* DistToken;  // [D]
    /// <summary>Length of the pooled vector the ViT head reads: D, or 2D for "cls+dist".</summary>
    internal int PooledLength => Config.Pooling == Schema.Poolings.ClsDist ? 2 * Config.Hidden : Config.Hidden;
    /// <summary>Learned tokens before the patches (class, distillation).</summary>
    internal int PrefixTokens => (Config.ClassToken ? 1 : 0) + (Config.DistillationToken ? 1 : 0);
    internal readonly float* Positions;  // [T, D]
    internal readonly BlockWeights[] Blocks;
    internal readonly TextWeights? TextW;
    internal readonly IntegerWeights? Integer;
    /// <summary>Integer profile: requantization of the pooled int32 stream into the head's int8 input.</summary>
    internal readonly (int Multiplier, int Shift) ToHeadInput;

    private Model(ModelFile file)
    {
        _file = file;
        var m = file.Metadata;
        if (m.Architecture == Schema.Architectures.Decoder)
            throw new ModelFormatException(ModelFormatError.BadMetadata, "this is a decoder language model; load it with DecoderModel.Load (CLI: edgequant generate)");
        if (!Schema.Architectures.Encoders.Contains(m.Architecture))
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"architecture '{m.Architecture}' is not supported by this build (supported: {Schema.List(Schema.Architectures.All)})");
        IsQuantized = m.Precision switch
        {
            Schema.Precisions.Int8 => true,
            Schema.Precisions.Fp32 => false,
            _ => throw new ModelFormatException(ModelFormatError.BadMetadata, $"precision '{m.Precision}' is not supported ({Schema.List(Schema.Precisions.All)})"),
        };
        Config = m.Encoder;
        if (m.Architecture == Schema.Architectures.Bert)
            Text = m.Text ?? throw new ModelFormatException(ModelFormatError.BadMetadata, "bert model has no text description");
        else
            Image = m.Image ?? throw new ModelFormatException(ModelFormatError.BadMetadata, "vit model has no image description");
        Plan = m.Plan;
        ValidateConfig();
        IsIntegerOnly = IsQuantized && m.Quant?.Profile == Schema.Profiles.Integer;
        if (IsQuantized && m.Quant is { } qp && !Schema.Profiles.All.Contains(qp.Profile))
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"quantization profile '{qp.Profile}' is not supported ({Schema.List(Schema.Profiles.All)})");
        if (IsQuantized && m.Quant is { } qa && !Schema.AttentionProbs.All.Contains(qa.AttentionProbs))
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"attention probabilities '{qa.AttentionProbs}' are not supported ({Schema.List(Schema.AttentionProbs.All)})");
        if (IsQuantized && m.Quant?.AttentionProbs is Schema.AttentionProbs.Log2 or Schema.AttentionProbs.LogSqrt2 && Config.SeqLen > Kernels.Reference.SoftmaxLog2.MaxRow)
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"log2 attention supports up to {Kernels.Reference.SoftmaxLog2.MaxRow} tokens, the model has {Config.SeqLen}");
        AttentionProbs = IsQuantized && m.Quant != null ? m.Quant.AttentionProbs : Schema.AttentionProbs.U8; // a missing Quant is reported below
        if (IsIntegerOnly && (!PositiveFinite(m.Quant!.ResidualScale) || m.Quant.ResidualEps < 1))
            throw new ModelFormatException(ModelFormatError.BadMetadata, "integer profile needs a positive, finite residual scale and a LayerNorm epsilon of at least 1");

        var c = Config;
        int d = c.Hidden;
        if (Plan != null)
        {
            if (IsIntegerOnly) throw new ModelFormatException(ModelFormatError.BadMetadata, "the integer-only profile does not support plan-graph stems yet; convert with the mixed profile");
            (Stem, Head) = LoadPlan(file, Plan, c);
        }
        if (IsText)
        {
            if (IsQuantized) CheckQuant(m, c);
            TextW = TextWeights.Load(file, Text!, c, IsQuantized);
            if (IsIntegerOnly)
            {
                Integer = new IntegerWeights { EmbedNorm = IntegerWeights.LoadNorm(file, "embed_ln", d) };
                Integer.Word = IntegerWeights.LoadRows(file, "embed.word", Text!.VocabSize);
                Integer.Position = IntegerWeights.LoadRows(file, "embed.pos", Text.MaxPositions);
                if (Text.TypeVocabSize > 0) Integer.Type = IntegerWeights.LoadRows(file, "embed.type", Text.TypeVocabSize);
            }
        }
        else if (Plan != null)
        {
            if (IsQuantized) CheckQuant(m, c); // the stem and head graphs are float: no patch or head scales
        }
        else if (IsQuantized)
        {
            var q = CheckQuant(m, c);
            if (!PositiveFinite(q.InputScale) || !PositiveFinite(q.HeadInputScale))
                throw new ModelFormatException(ModelFormatError.BadMetadata, $"input/head quantization scales ({q.InputScale}, {q.HeadInputScale}) must be positive and finite");
            PatchQ = LinearS8.Load(file, "embed.patch", d, PatchLength, requantized: IsIntegerOnly, q.WeightBits);
            if (IsIntegerOnly)
            {
                Integer = new IntegerWeights { Tokens = file.Data<int>(file.Require("embed.tok.q", TensorDType.S32, c.SeqLen, d)).ToArray() };
                if (c.FinalNorm) Integer.FinalNorm = IntegerWeights.LoadNorm(file, "final_ln", d);
                ToHeadInput = Kernels.Reference.Requantize.FromScale((double)q.ResidualScale / q.HeadInputScale);
            }
            HeadQ = LinearS8.Load(file, "head", c.NumClasses, PooledLength, requantized: false, q.WeightBits);
        }
        else
        {
            PatchF = LinearF32.Load(file, "embed.patch", d, PatchLength);
            HeadF = LinearF32.Load(file, "head", c.NumClasses, PooledLength);
        }
        if (c.FinalNorm) FinalNorm = NormParams.Load(file, "final_ln", d);
        if (c.ClassToken) ClassToken = FiniteF32.Require(file, "embed.cls", d);
        if (c.DistillationToken) DistToken = FiniteF32.Require(file, "embed.dist", d);
        if (!IsText && Plan == null) Positions = FiniteF32.Require(file, "embed.pos", c.SeqLen, d);

        Blocks = new BlockWeights[c.Layers];
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"blocks.{i}.";
            var b = new BlockWeights { Ln1 = NormParams.Load(file, p + "ln1", d), Ln2 = NormParams.Load(file, p + "ln2", d) };
            if (IsQuantized)
            {
                b.Quant = m.Quant!.Blocks[i];
                ValidateBlockQuant(b.Quant, i);
                b.QkvQ = LinearS8.Load(file, p + "qkv", 3 * d, d, requantized: true, m.Quant!.WeightBits);
                b.OutQ = LinearS8.Load(file, p + "out", d, d, requantized: IsIntegerOnly, m.Quant!.WeightBits);
                b.Fc1Q = LinearS8.Load(file, p + "fc1", c.MlpDim, d, requantized: true, m.Quant!.WeightBits);
                b.Fc2Q = LinearS8.Load(file, p + "fc2", d, c.MlpDim, requantized: IsIntegerOnly, m.Quant!.WeightBits);
                if (IsIntegerOnly)
                {
                    b.Ln1Q = IntegerWeights.LoadNorm(file, p + "ln1", d);
                    b.Ln2Q = IntegerWeights.LoadNorm(file, p + "ln2", d);
                    double sr = m.Quant.ResidualScale;
                    b.ToAttnInput = Kernels.Reference.Requantize.FromScale(sr / b.Quant.AttnInputScale);
                    b.ToMlpInput = Kernels.Reference.Requantize.FromScale(sr / b.Quant.MlpInputScale);
                }
                b.QkvSmooth = BlockWeights.LoadSmooth(file, p + "qkv", d);
                b.Fc1Smooth = BlockWeights.LoadSmooth(file, p + "fc1", d);
            }
            else
            {
                b.QkvF = LinearF32.Load(file, p + "qkv", 3 * d, d);
                b.OutF = LinearF32.Load(file, p + "out", d, d);
                b.Fc1F = LinearF32.Load(file, p + "fc1", c.MlpDim, d);
                b.Fc2F = LinearF32.Load(file, p + "fc2", d, c.MlpDim);
            }
            Blocks[i] = b;
        }
    }

    /// <summary>The quantization parameters every int8 model needs: present, one set per block, a supported weight width.</summary>
    private static QuantConfig CheckQuant(ModelMetadata m, EncoderConfig c)
    {
        var q = m.Quant ?? throw new ModelFormatException(ModelFormatError.BadMetadata, "int8 model has no quantization parameters");
        if (q.Blocks.Length != c.Layers)
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"quantization parameters for {q.Blocks.Length} blocks, model has {c.Layers}");
        if (q.WeightBits is not (4 or 7 or 8))
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"weight bits {q.WeightBits} not supported (4, 7, 8)");
        return q;
    }

    /// <summary>Builds the stem and head programs and checks that they meet the blocks' token stream [T, D].</summary>
    /// <remarks>
    /// Image models: a stem (image → stream) and a head (stream → output). Text models embed tokens with the built-in
    /// embedding (no stem graph); their head takes the final hidden states [L, D] (masked rows zero) and the attention
    /// mask [L] at the maximum length L.
    /// </remarks>
    private (GraphProgram? Stem, GraphProgram Head) LoadPlan(ModelFile file, PlanConfig plan, EncoderConfig c)
    {
        void Fail(string msg) => throw new ModelFormatException(ModelFormatError.BadMetadata, msg);
        if (plan.Head == null) Fail("plan needs a head graph");
        var head = GraphProgram.Build("head", plan.Head!, file);
        long stream = (long)c.SeqLen * c.Hidden;
        GraphProgram? stem = null;
        if (IsText)
        {
            if (plan.Stem is { } s && (s.Ops.Length > 0 || s.Values.Length > 0)) Fail("text models embed tokens with the built-in embedding; a stem graph is not supported");
            if (head.Inputs.Length != 2 || head.Sizes[head.Inputs[0]] != stream || head.Sizes[head.Inputs[1]] != c.SeqLen)
                Fail($"a text plan head must take the hidden states [{c.SeqLen}, {c.Hidden}] and the attention mask [{c.SeqLen}]");
        }
        else
        {
            if (plan.Stem == null) Fail("an image plan needs a stem graph");
            stem = GraphProgram.Build("stem", plan.Stem!, file);
            if (stem.Inputs.Length != 1 || stem.Sizes[stem.Inputs[0]] != InputLength)
                Fail($"plan stem must take one input of {InputLength} values (the image)");
            if (stem.Outputs.Length != 1 || stem.OutputSize != stream) Fail($"plan stem must give one output of [{c.SeqLen}, {c.Hidden}] values");
            if (head.Inputs.Length != 1 || head.Sizes[head.Inputs[0]] != stream) Fail($"plan head must take one input of [{c.SeqLen}, {c.Hidden}] values");
        }
        if (head.Outputs.Length != 1 || head.OutputSize != c.NumClasses) Fail($"plan head must give one output of {c.NumClasses} values");
        return (stem, head);
    }

    /// <summary>Memory-maps, validates and prepares a model file.</summary>
    /// <param name="path">Path of an .eqm file.</param>
    /// <param name="verifyChecksums">Check the CRC-32 of every tensor (touches every page once).</param>
    public static Model Load(string path, bool verifyChecksums = true) => Wrap(ModelFile.Open(path, verifyChecksums));

    /// <summary>Loads a model from bytes in memory (copied into aligned native memory).</summary>
    public static Model Load(ReadOnlySpan<byte> bytes, bool verifyChecksums = true) => Wrap(ModelFile.FromMemory(bytes, verifyChecksums));

    private static Model Wrap(ModelFile file)
    {
        try
        {
            var m = new Model(file);
            // The stored vocabulary is checked at load (UTF-8, no duplicates, the special tokens present), so a damaged
            // one is a format error here, not an argument error from the first session.
            if (m.HasTokenizer) _ = m.CreateTokenizer();
            return m;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>True when the model carries a WordPiece vocabulary (text in); otherwise callers pass token ids.</summary>
    public bool HasTokenizer => TextW is { VocabBytes: > 0 };

    /// <summary>A new tokenizer over the model's stored vocabulary and settings (one per thread: it owns scratch buffers).</summary>
    /// <exception cref="InvalidOperationException">The model has no tokenizer.</exception>
    public WordPieceTokenizer CreateTokenizer()
    {
        if (!HasTokenizer) throw new InvalidOperationException(IsText ? "this model stores no tokenizer (its vocabulary is not WordPiece); pass token ids" : "image models have no tokenizer");
        WordPieceTokenizer tok;
        try { tok = CreateTokenizer(Text!, new ReadOnlySpan<byte>(TextW!.Vocab, TextW.VocabBytes)); }
        catch (ArgumentException e) { throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor 'tokenizer.vocab': {e.Message}"); }
        if (tok.VocabSize > Text!.VocabSize)
            throw new ModelFormatException(ModelFormatError.BadTensor, $"tensor 'tokenizer.vocab' has {tok.VocabSize} tokens, the embedding table {Text.VocabSize} rows");
        return tok;
    }

    /// <summary>A tokenizer with the settings of <paramref name="text"/> over a vocabulary (UTF-8, one token per line); the converter uses it before a model file exists.</summary>
    public static WordPieceTokenizer CreateTokenizer(TextConfig text, ReadOnlySpan<byte> vocab) => WordPieceTokenizer.FromVocabText(vocab, new WordPieceOptions
    {
        LowerCase = text.LowerCase, StripAccents = text.StripAccents, TokenizeChineseChars = text.TokenizeChineseChars,
        UnknownToken = text.UnknownToken, ClassToken = text.ClassToken, SeparatorToken = text.SeparatorToken, PadToken = text.PadToken,
    });

    /// <summary>Creates a session (one per thread) with its own pre-sized arena.</summary>
    public Session CreateSession(SessionOptions? options = null) => new(this, options ?? new SessionOptions());

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();

    /// <summary>Largest image height or width a model file may declare (keeps channels × height × width far inside int).</summary>
    public const int MaxImageSide = 8192;

    /// <summary>Largest vocabulary, position table and class count a file may declare (2^20; real vocabularies stay below 300k).</summary>
    public const int MaxVocabulary = 1 << 20;

    /// <summary>Largest token-type table a file may declare.</summary>
    public const int MaxTokenTypes = 1024;

    private void ValidateConfig()
    {
        var c = Config;
        void Fail(string msg) => throw new ModelFormatException(ModelFormatError.BadMetadata, msg);
        if (c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.MlpDim <= 0 || c.NumClasses <= 0 || c.SeqLen <= 0)
            Fail("encoder dims must be positive");
        if (c.Hidden % c.Heads != 0) Fail($"hidden size {c.Hidden} is not divisible by {c.Heads} heads");
        if (c.Hidden > 16384 || c.MlpDim > 65536 || c.SeqLen > 4096 || c.Layers > 256 || c.NumClasses > MaxVocabulary) Fail("encoder dims exceed this build's limits");
        if (!Schema.Activations.All.Contains(c.Activation)) Fail($"activation '{c.Activation}' is not supported ({Schema.List(Schema.Activations.All)})");
        if (!Schema.Poolings.All.Contains(c.Pooling)) Fail($"pooling '{c.Pooling}' is not supported ({Schema.List(Schema.Poolings.All)})");
        if ((c.Pooling == Schema.Poolings.Plan) != (Plan != null)) Fail("pooling 'plan' goes with a plan (stem and head graphs), and only with one");
        if (Text == null && c.Pooling is not (Schema.Poolings.Mean or Schema.Poolings.Plan) && !c.ClassToken) Fail("cls pooling needs a class token");
        if (c.Pooling == Schema.Poolings.ClsDist && !c.DistillationToken) Fail("cls+dist pooling needs a distillation token");
        if (c.DistillationToken && !c.ClassToken) Fail("a distillation token needs a class token before it");
        if (!(c.LayerNormEps > 0)) Fail("LayerNorm epsilon must be positive");
        if (Metadata.Labels.Length != 0 && Metadata.Labels.Length != c.NumClasses) Fail($"{Metadata.Labels.Length} labels for {c.NumClasses} classes");
        if (Text is { } tx)
        {
            if (tx.VocabSize <= 0 || tx.MaxPositions <= 0 || tx.TypeVocabSize < 0 || tx.PositionOffset < 0) Fail("text vocabulary and position table sizes must be positive");
            if (tx.VocabSize > MaxVocabulary || tx.MaxPositions > MaxVocabulary || tx.TypeVocabSize > MaxTokenTypes)
                Fail($"vocabulary {tx.VocabSize}, positions {tx.MaxPositions} or token types {tx.TypeVocabSize} exceed this build's limits ({MaxVocabulary}, {MaxVocabulary}, {MaxTokenTypes})");
            // 64-bit sum: an offset near int.MaxValue must not wrap past the check (the lookup would read outside the table).
            if ((long)c.SeqLen + tx.PositionOffset > tx.MaxPositions) Fail($"max sequence {c.SeqLen} + position offset {tx.PositionOffset} exceeds {tx.MaxPositions} positions");
            if (!Schema.TextHeads.All.Contains(tx.Head)) Fail($"text head '{tx.Head}' is not supported ({Schema.List(Schema.TextHeads.All)})");
            if ((tx.Head == Schema.TextHeads.Plan) != (Plan != null)) Fail("text head 'plan' goes with a plan head graph, and only with one");
            if (!Schema.PoolerActivations.All.Contains(tx.PoolerActivation)) Fail($"pooler activation '{tx.PoolerActivation}' is not supported ({Schema.List(Schema.PoolerActivations.All)})");
            if (!Schema.Tokenizers.All.Contains(tx.Tokenizer)) Fail($"tokenizer '{tx.Tokenizer}' is not supported ({Schema.List(Schema.Tokenizers.All)})");
            if (c.NormFirst) Fail("text encoders are post-LayerNorm");
            return;
        }
        var im = Image!;
        if (im.Channels is < 1 or > 4 || im.Height <= 0 || im.Width <= 0) Fail($"image {im.Channels}x{im.Height}x{im.Width} is not valid");
        // Bounded before any product is formed: Patches and InputLength multiply these in int.
        if (im.Height > MaxImageSide || im.Width > MaxImageSide) Fail($"image {im.Height}x{im.Width} exceeds this build's limit of {MaxImageSide} pixels a side");
        if (im.Mean.Length != im.Channels || im.Std.Length != im.Channels) Fail("image mean/std must have one value per channel");
        foreach (float s in im.Std) if (!(s > 0)) Fail("image std must be positive");
        if (Plan != null)
        {
            if (c.ClassToken || c.DistillationToken || c.FinalNorm) Fail("a plan model keeps class tokens and the final norm in its stem and head graphs");
            return;
        }
        if (im.PatchSize <= 0 || im.Height % im.PatchSize != 0 || im.Width % im.PatchSize != 0)
            Fail($"image {im.Channels}x{im.Height}x{im.Width} with patch {im.PatchSize} is not valid");
        int expectedSeq = Patches + PrefixTokens;
        if (c.SeqLen != expectedSeq) Fail($"sequence length {c.SeqLen} does not match {Patches} patches + {PrefixTokens} class/distillation token(s)");
    }

    private static bool PositiveFinite(float v) => v > 0 && float.IsFinite(v);

    /// <summary>Scales positive and finite; score, context and activation requantizations canonical Q31 pairs with a non-zero multiplier.</summary>
    private static void ValidateBlockQuant(BlockQuant q, int i)
    {
        static bool Rq(int m, int s) => m != 0 && Kernels.Reference.Requantize.IsCanonical(m, s);
        bool ok = PositiveFinite(q.AttnInputScale) && PositiveFinite(q.MlpInputScale) && PositiveFinite(q.QScale) && PositiveFinite(q.KScale)
            && PositiveFinite(q.VScale) && PositiveFinite(q.ContextScale) && PositiveFinite(q.ActScale)
            && Rq(q.ScoreMultiplier, q.ScoreShift) && Rq(q.ContextMultiplier, q.ContextShift) && Rq(q.ActMultiplier, q.ActShift);
        if (!ok) throw new ModelFormatException(ModelFormatError.BadMetadata, $"block {i}: invalid quantization parameters (scales must be positive and finite, requantization multipliers normalized Q31 in [2^30, 2^31) with shifts in [1, 62])");
    }
}
