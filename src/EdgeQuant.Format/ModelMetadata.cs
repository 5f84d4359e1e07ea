using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeQuant.Format;

/// <summary>Model-level description stored as UTF-8 JSON in the file (see docs/FORMAT.md).</summary>
public sealed class ModelMetadata
{
    /// <summary>Architecture family: "vit" (image encoder) or "bert" (BERT-family text encoder: BERT, DistilBERT, RoBERTa, MiniLM).</summary>
    public string Architecture { get; set; } = Schema.Architectures.Vit;

    /// <summary>"fp32" (float weights, reference path) or "int8" (quantized weights, integer kernels).</summary>
    public string Precision { get; set; } = Schema.Precisions.Fp32;

    /// <summary>Encoder hyper-parameters.</summary>
    public EncoderConfig Encoder { get; set; } = new();

    /// <summary>Image input and its preprocessing (vision models).</summary>
    public ImageConfig? Image { get; set; }

    /// <summary>Text input, embeddings, tokenizer and head (text models).</summary>
    public TextConfig? Text { get; set; }

    /// <summary>Decoder language model description (architecture "decoder"); null for encoders.</summary>
    public DecoderConfig? Decoder { get; set; }

    /// <summary>Stem and head op graphs around the blocks (models that do not fit the fixed conv-stem/class-token template); null = the template.</summary>
    public PlanConfig? Plan { get; set; }

    /// <summary>Class labels, index = output row.</summary>
    public string[] Labels { get; set; } = [];

    /// <summary>Activation quantization parameters (int8 only).</summary>
    public QuantConfig? Quant { get; set; }

    /// <summary>Where the model came from (file name, producer).</summary>
    public string Source { get; set; } = "";

    /// <summary>Converter that wrote the file.</summary>
    public string Converter { get; set; } = "";

    /// <summary>Serializes to UTF-8 JSON.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, MetadataJsonContext.Default.ModelMetadata);

    /// <summary>Parses UTF-8 JSON; throws <see cref="ModelFormatException"/> on malformed input.</summary>
    public static ModelMetadata FromJson(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, MetadataJsonContext.Default.ModelMetadata)
                ?? throw new ModelFormatException(ModelFormatError.BadMetadata, "metadata is JSON null");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(ModelFormatError.BadMetadata, $"metadata JSON is malformed: {e.Message}");
        }
    }
}

/// <summary>Transformer encoder hyper-parameters.</summary>
public sealed class EncoderConfig
{
    /// <summary>Hidden size D.</summary>
    public int Hidden { get; set; }
    /// <summary>Number of encoder blocks.</summary>
    public int Layers { get; set; }
    /// <summary>Attention heads (Hidden divisible by Heads).</summary>
    public int Heads { get; set; }
    /// <summary>MLP inner size.</summary>
    public int MlpDim { get; set; }
    /// <summary>Number of output classes.</summary>
    public int NumClasses { get; set; }
    /// <summary>Sequence length (patches + class token).</summary>
    public int SeqLen { get; set; }
    /// <summary>True for pre-LayerNorm blocks, false for post-LayerNorm.</summary>
    public bool NormFirst { get; set; } = true;
    /// <summary>MLP activation: "gelu" (erf) or "relu".</summary>
    public string Activation { get; set; } = Schema.Activations.Gelu;
    /// <summary>Pooling before the head: "cls", "mean", or "cls+dist" (DeiT with distillation head: the normalized class and distillation tokens side by side, [2D]).</summary>
    public string Pooling { get; set; } = Schema.Poolings.Cls;
    /// <summary>Whether a class token is prepended.</summary>
    public bool ClassToken { get; set; } = true;
    /// <summary>Whether a distillation token (DeiT) follows the class token.</summary>
    public bool DistillationToken { get; set; }
    /// <summary>Whether a LayerNorm follows the last block.</summary>
    public bool FinalNorm { get; set; } = true;
    /// <summary>LayerNorm epsilon.</summary>
    public float LayerNormEps { get; set; } = 1e-5f;
}

/// <summary>
/// Text input of a BERT-family encoder. Embeddings are word + position (+ token type) rows followed by a LayerNorm; the
/// encoder is post-LN. The vocabulary is stored as tensor "tokenizer.vocab" (UTF-8, one token per line).
/// </summary>
public sealed class TextConfig
{
    /// <summary>Source family: "bert", "distilbert", "roberta" (informational; the arithmetic is the same).</summary>
    public string ModelType { get; set; } = "bert";
    /// <summary>Rows of the word-embedding table.</summary>
    public int VocabSize { get; set; }
    /// <summary>Rows of the position-embedding table.</summary>
    public int MaxPositions { get; set; }
    /// <summary>Rows of the token-type table (0: none, as DistilBERT).</summary>
    public int TypeVocabSize { get; set; }
    /// <summary>Position id of the first token (RoBERTa: padding id + 1).</summary>
    public int PositionOffset { get; set; }
    /// <summary>True when position ids count only unmasked tokens (RoBERTa); false: the token's index (BERT).</summary>
    public bool PositionsFromMask { get; set; }
    /// <summary>Tokenizer stored with the model: "wordpiece", or "none" (callers pass token ids).</summary>
    public string Tokenizer { get; set; } = Schema.Tokenizers.WordPiece;
    /// <summary>Lower-case the input (uncased vocabularies).</summary>
    public bool LowerCase { get; set; } = true;
    /// <summary>Strip accents; null = same as <see cref="LowerCase"/> (Hugging Face default).</summary>
    public bool? StripAccents { get; set; }
    /// <summary>Put spaces around CJK ideographs.</summary>
    public bool TokenizeChineseChars { get; set; } = true;
    /// <summary>Special tokens.</summary>
    public string ClassToken { get; set; } = "[CLS]";
    /// <summary>Separator token.</summary>
    public string SeparatorToken { get; set; } = "[SEP]";
    /// <summary>Unknown-word token.</summary>
    public string UnknownToken { get; set; } = "[UNK]";
    /// <summary>Padding token.</summary>
    public string PadToken { get; set; } = "[PAD]";
    /// <summary>Output: "classification" (first token → pooler → classifier → logits) or "embedding" (masked mean of the last hidden states).</summary>
    public string Head { get; set; } = Schema.TextHeads.Classification;
    /// <summary>Pooler before the classifier: "tanh" (BERT pooler, RoBERTa head), "relu" (DistilBERT pre-classifier) or "none".</summary>
    public string PoolerActivation { get; set; } = Schema.PoolerActivations.Tanh;
}

/// <summary>Image input description: the engine takes pixels in [0,255] and applies (p*Scale - Mean[c]) / Std[c].</summary>
public sealed class ImageConfig
{
    /// <summary>Channels (1 or 3).</summary>
    public int Channels { get; set; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; set; }
    /// <summary>Width in pixels.</summary>
    public int Width { get; set; }
    /// <summary>Square patch size (= conv stride).</summary>
    public int PatchSize { get; set; }
    /// <summary>Pixel multiplier (1/255 for [0,1] input).</summary>
    public float Scale { get; set; } = 1f / 255f;
    /// <summary>Per-channel mean subtracted after scaling.</summary>
    public float[] Mean { get; set; } = [];
    /// <summary>Per-channel std divided after mean subtraction.</summary>
    public float[] Std { get; set; } = [];
}

/// <summary>Activation quantization of an int8 model: scales (float) and the integer requantization parameters derived from them.</summary>
public sealed class QuantConfig
{
    /// <summary>Calibrator used ("minmax", "percentile").</summary>
    public string Calibrator { get; set; } = "";
    /// <summary>
    /// Weight bits: 8 (int8 in [−127, 127]), 7 (in [−63, 63], with ".wsum" per linear: enables the exact u8×s8
    /// vpmaddubsw path on x64) or 4 (linears stored ".w4", packed 4-bit in [−7, 7], layout S4Blocks32, plus ".wsum";
    /// linears stored ".w" in such a model are 8-bit: the patch embedding, the head and any kept by the mixed-precision search).
    /// </summary>
    public int WeightBits { get; set; } = 8;
    /// <summary>"mixed" (float LayerNorm and residual stream) or "integer" (int32 residual stream at <see cref="ResidualScale"/>, integer LayerNorm).</summary>
    public string Profile { get; set; } = Schema.Profiles.Mixed;
    /// <summary>
    /// Attention probabilities: "u8" (uniform, scale 2^−8; default), "u4" (uniform 4-bit, values 0..15 at scale 1/16,
    /// from the u8 ones by (p + 8) >> 4), "log2" (4-bit codes k, p̂ = 2^−k, FQ-ViT Log-Int-Softmax; P·V by shifts at
    /// scale 2^−14) or "logsqrt2" (4-bit codes, p̂ = 2^(−k/2), RepQ-ViT; P·V as two shift sums at 2^−14). The context requantization (<see cref="BlockQuant.ContextMultiplier"/>) includes that scale.
    /// </summary>
    public string AttentionProbs { get; set; } = Schema.AttentionProbs.U8;
    /// <summary>Integer profile: scale of the int32 residual stream.</summary>
    public float ResidualScale { get; set; }
    /// <summary>Integer profile: LayerNorm ε in residual units squared, round(ε / S²) (at least 1).</summary>
    public long ResidualEps { get; set; }
    /// <summary>Scale of the quantized patch vectors fed to the patch embedding.</summary>
    public float InputScale { get; set; }
    /// <summary>Scale of the quantized pooled vector fed to the head.</summary>
    public float HeadInputScale { get; set; }
    /// <summary>Per-block parameters.</summary>
    public BlockQuant[] Blocks { get; set; } = [];
}

/// <summary>Quantization parameters of one encoder block.</summary>
public sealed class BlockQuant
{
    /// <summary>Scale of the int8 input of the QKV projection.</summary>
    public float AttnInputScale { get; set; }
    /// <summary>Scales of int8 Q, K, V.</summary>
    public float QScale { get; set; }
    /// <summary>Scale of int8 K.</summary>
    public float KScale { get; set; }
    /// <summary>Scale of int8 V.</summary>
    public float VScale { get; set; }
    /// <summary>Requantization of Q·Kᵀ (with 1/sqrt(head dim)) into the softmax input domain.</summary>
    public int ScoreMultiplier { get; set; }
    /// <summary>Shift paired with <see cref="ScoreMultiplier"/>.</summary>
    public int ScoreShift { get; set; }
    /// <summary>Scale of the int8 attention context (input of the output projection).</summary>
    public float ContextScale { get; set; }
    /// <summary>Requantization of P·V into int8 context.</summary>
    public int ContextMultiplier { get; set; }
    /// <summary>Shift paired with <see cref="ContextMultiplier"/>.</summary>
    public int ContextShift { get; set; }
    /// <summary>Scale of the int8 input of the first MLP linear.</summary>
    public float MlpInputScale { get; set; }
    /// <summary>Scale of the int8 activation output (input of the second MLP linear).</summary>
    public float ActScale { get; set; }
    /// <summary>Requantization of the activation output into int8.</summary>
    public int ActMultiplier { get; set; }
    /// <summary>Shift paired with <see cref="ActMultiplier"/>.</summary>
    public int ActShift { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ModelMetadata))]
internal sealed partial class MetadataJsonContext : JsonSerializerContext;
