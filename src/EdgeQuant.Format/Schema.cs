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
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Vit, Bert];
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
        /// <summary>Every value.</summary>
        public static readonly string[] All = [Gelu, Relu];
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
