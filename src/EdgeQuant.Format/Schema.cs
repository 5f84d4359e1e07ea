namespace EdgeQuant.Format;

/// <summary>
/// The values of the metadata's enumerated strings, defined once for the writer (converter), the loader (engine), the
/// CLI and the C ABI. Each group has <c>All</c> for validation and <see cref="List"/> for messages.
/// </summary>
public static class Schema
{
    /// <summary>"a, b, c" for messages.</summary>
    public static string List(IEnumerable<string> values) => string.Join(", ", values);

    /// <summary><see cref="ModelMetadata.Architecture"/>.</summary>
    public static class Architectures
    {
        /// <summary>Image encoder (ViT, DeiT and plan models).</summary>
        public const string Vit = "vit";
        /// <summary>BERT-family text encoder.</summary>
        public const string Bert = "bert";
        /// <summary>Decoder-only language model (Llama family, Qwen2, GPT-2): <see cref="DecoderConfig"/>.</summary>
        public const string Decoder = "decoder";
        /// <summary>The encoder architectures (<see cref="ModelMetadata.Encoder"/>).</summary>
        public static readonly string[] Encoders = [Vit, Bert];
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Vit, Bert, Decoder];
    }

    /// <summary><see cref="ModelMetadata.Precision"/>.</summary>
    public static class Precisions
    {
        /// <summary>Float weights, the reference path.</summary>
        public const string Fp32 = "fp32";
        /// <summary>Quantized weights, integer kernels.</summary>
        public const string Int8 = "int8";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Fp32, Int8];
    }

    /// <summary><see cref="EncoderConfig.Activation"/>: the block MLP's activation.</summary>
    public static class Activations
    {
        /// <summary>Exact (erf) GELU.</summary>
        public const string Gelu = "gelu";
        /// <summary>ReLU.</summary>
        public const string Relu = "relu";
        /// <summary>Every value an encoder block takes.</summary>
        public static readonly string[] All = [Gelu, Relu];
        /// <summary>SiLU (x·σ(x)); in a gated MLP, SwiGLU (decoders).</summary>
        public const string Silu = "silu";
        /// <summary>GELU, tanh approximation (GPT-2's "gelu_new").</summary>
        public const string GeluTanh = "gelu_tanh";
        /// <summary>Every value a decoder block takes.</summary>
        public static readonly string[] Decoder = [Silu, GeluTanh, Gelu, Relu];
    }

    /// <summary><see cref="DecoderConfig.Norm"/>: the normalization of a decoder block.</summary>
    public static class NormKinds
    {
        /// <summary>LayerNorm with weight and bias (GPT-2).</summary>
        public const string LayerNorm = "layernorm";
        /// <summary>RMSNorm with weight only (Llama family, Qwen2).</summary>
        public const string RmsNorm = "rmsnorm";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [LayerNorm, RmsNorm];
    }

    /// <summary><see cref="DecoderConfig.Positions"/>: where token positions enter a decoder.</summary>
    public static class PositionKinds
    {
        /// <summary>Rotary embedding on q and k, rotate-half pairing (i, i + d/2): Hugging Face Llama/Qwen2 checkpoints.</summary>
        public const string RopeHalf = "rope_half";
        /// <summary>Rotary embedding, interleaved pairing (2i, 2i + 1): Meta's original Llama, GPT-J.</summary>
        public const string RopeInterleaved = "rope_interleaved";
        /// <summary>A learned position table added to the token embedding (GPT-2).</summary>
        public const string Learned = "learned";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [RopeHalf, RopeInterleaved, Learned];
    }

    /// <summary><see cref="DecoderQuantConfig.Weights"/>: how a decoder's linears are stored.</summary>
    public static class DecoderWeightKinds
    {
        /// <summary>Float weights.</summary>
        public const string F32 = "f32";
        /// <summary>Symmetric int8, one scale per output channel.</summary>
        public const string S8Channel = "s8";
        /// <summary>Symmetric 4-bit in [−7, 7] (layout S4Panels8), one scale per output channel and group of K.</summary>
        public const string S4Group = "s4g";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [F32, S8Channel, S4Group];
    }

    /// <summary><see cref="EncoderConfig.Pooling"/>.</summary>
    public static class Poolings
    {
        /// <summary>The class token.</summary>
        public const string Cls = "cls";
        /// <summary>Mean over the tokens.</summary>
        public const string Mean = "mean";
        /// <summary>Class and distillation tokens side by side (DeiT).</summary>
        public const string ClsDist = "cls+dist";
        /// <summary>The plan's head graph does the pooling.</summary>
        public const string Plan = "plan";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Cls, Mean, ClsDist, Plan];
    }

    /// <summary><see cref="TextConfig.Head"/>.</summary>
    public static class TextHeads
    {
        /// <summary>First token → pooler → classifier.</summary>
        public const string Classification = "classification";
        /// <summary>Masked mean of the last hidden states.</summary>
        public const string Embedding = "embedding";
        /// <summary>The plan's head graph over hidden states and mask.</summary>
        public const string Plan = "plan";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Classification, Embedding, Plan];
    }

    /// <summary><see cref="TextConfig.PoolerActivation"/>.</summary>
    public static class PoolerActivations
    {
        /// <summary>BERT pooler, RoBERTa head.</summary>
        public const string Tanh = "tanh";
        /// <summary>DistilBERT pre-classifier.</summary>
        public const string Relu = "relu";
        /// <summary>No pooler.</summary>
        public const string None = "none";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Tanh, Relu, None];
    }

    /// <summary><see cref="TextConfig.Tokenizer"/>.</summary>
    public static class Tokenizers
    {
        /// <summary>WordPiece over the stored vocabulary.</summary>
        public const string WordPiece = "wordpiece";
        /// <summary>No tokenizer: callers pass token ids.</summary>
        public const string None = "none";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [WordPiece, None];
    }

    /// <summary><see cref="QuantConfig.Profile"/>.</summary>
    public static class Profiles
    {
        /// <summary>Float residual stream and LayerNorm.</summary>
        public const string Mixed = "mixed";
        /// <summary>Int32 residual stream, integer LayerNorm.</summary>
        public const string Integer = "integer";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Mixed, Integer];
    }

    /// <summary><see cref="QuantConfig.AttentionProbs"/>.</summary>
    public static class AttentionProbs
    {
        /// <summary>Uniform 8-bit at 2^−8.</summary>
        public const string U8 = "u8";
        /// <summary>Uniform 4-bit at 1/16.</summary>
        public const string U4 = "u4";
        /// <summary>4-bit log2 codes.</summary>
        public const string Log2 = "log2";
        /// <summary>4-bit log-√2 codes.</summary>
        public const string LogSqrt2 = "logsqrt2";
        /// <summary>Every value.</summary>
        public static readonly string[] All = [U8, U4, Log2, LogSqrt2];
    }
}
