namespace EdgeQuant.Format;

/// <summary>
/// A decoder-only language model (architecture "decoder"): token embedding (+ learned positions), <see cref="Layers"/>
/// pre-norm blocks (norm → causal self-attention with rotary or learned positions → residual; norm → MLP → residual),
/// a final norm and the LM head. Tensor names are <see cref="DecoderTensors"/>; see docs/FORMAT.md.
/// </summary>
public sealed class DecoderConfig
{
    /// <summary>Source family: "llama", "mistral", "qwen2", "gpt2" (informational; the block parameters say what runs).</summary>
    public string ModelType { get; set; } = "llama";
    /// <summary>Rows of the embedding table and of the LM head.</summary>
    public int VocabSize { get; set; }
    /// <summary>Residual stream width D.</summary>
    public int Hidden { get; set; }
    /// <summary>Number of blocks.</summary>
    public int Layers { get; set; }
    /// <summary>Query heads.</summary>
    public int Heads { get; set; }
    /// <summary>Key/value heads (grouped-query: divides <see cref="Heads"/>; 1 = multi-query).</summary>
    public int KvHeads { get; set; }
    /// <summary>Size of one head (may differ from Hidden / Heads).</summary>
    public int HeadDim { get; set; }
    /// <summary>MLP inner size.</summary>
    public int MlpDim { get; set; }
    /// <summary>Longest context the model was trained for (rows of a learned position table).</summary>
    public int MaxPositions { get; set; }
    /// <summary><see cref="Schema.NormKinds"/>.</summary>
    public string Norm { get; set; } = Schema.NormKinds.RmsNorm;
    /// <summary>Norm epsilon.</summary>
    public float NormEps { get; set; } = 1e-5f;
    /// <summary><see cref="Schema.Activations.Decoder"/>.</summary>
    public string Activation { get; set; } = Schema.Activations.Silu;
    /// <summary>Gated MLP: down(act(gate(x)) · up(x)) (SwiGLU); false: down(act(up(x))).</summary>
    public bool GatedMlp { get; set; } = true;
    /// <summary><see cref="Schema.PositionKinds"/>. Rotary models store their inverse frequencies (<see cref="DecoderTensors.RopeInvFreq"/>), any scaling applied.</summary>
    public string Positions { get; set; } = Schema.PositionKinds.RopeHalf;
    /// <summary>Biases on the q, k, v projections (Qwen2, GPT-2).</summary>
    public bool QkvBias { get; set; }
    /// <summary>Bias on the attention output projection (GPT-2).</summary>
    public bool OutBias { get; set; }
    /// <summary>Biases on the MLP linears (GPT-2).</summary>
    public bool MlpBias { get; set; }
    /// <summary>The LM head is the embedding table (no <see cref="DecoderTensors.LmHead"/> tensor).</summary>
    public bool TiedEmbeddings { get; set; }
    /// <summary>Beginning-of-sequence token id, or −1.</summary>
    public int BosId { get; set; } = -1;
    /// <summary>Token ids that end generation.</summary>
    public int[] EosIds { get; set; } = [];
    /// <summary>Weight quantization; null for float weights.</summary>
    public DecoderQuantConfig? Quant { get; set; }
}

/// <summary>How a decoder's linears are quantized. Activations are quantized per token at run time (int8, symmetric, scale = max|x| / 127).</summary>
public sealed class DecoderQuantConfig
{
    /// <summary><see cref="Schema.DecoderWeightKinds"/> of the block linears.</summary>
    public string Weights { get; set; } = Schema.DecoderWeightKinds.S8Channel;
    /// <summary>Weights of the LM head (8-bit by default: it sets the logits every token is chosen from).</summary>
    public string HeadWeights { get; set; } = Schema.DecoderWeightKinds.S8Channel;
    /// <summary>K per scale group for <see cref="Schema.DecoderWeightKinds.S4Group"/> (32, 64 or 128).</summary>
    public int GroupSize { get; set; }
    /// <summary>How the weight scales were chosen ("absmax", "mse").</summary>
    public string Calibrator { get; set; } = "";
}

/// <summary>
/// Tensor names of a decoder model, defined once for the converter and the engine. A linear "P" is stored as "P.w"
/// (F32 [out, in]), or "P.q" (S8 [out, in]) + "P.s" (F32 [out] weight scales), or "P.q4" (U8 [ceil(out / 8), ceil(in / 32) · 128],
/// layout S4Panels8) + "P.s" (BF16 [ceil(out / 8), ceil(in / group), 8]: panel-major like the weights);
/// its bias, when the config says it has one, is "P.b" (F32 [out]). Norms: "N.g" (and "N.b" for LayerNorm).
/// </summary>
public static class DecoderTensors
{
    /// <summary>Token embedding: F32 [vocab, D]; in quantized files an int8 linear ("embed.word.q" + ".s", one scale per row), also the LM head of a tied model.</summary>
    public const string Embedding = "embed.word";
    /// <summary>Learned position table, F32 [max positions, D] (GPT-2).</summary>
    public const string Positions = "embed.pos";
    /// <summary>Rotary inverse frequencies, F32 [head dim / 2], scaling already applied.</summary>
    public const string RopeInvFreq = "rope.inv_freq";
    /// <summary>Norm after the last block.</summary>
    public const string FinalNorm = "final_norm";
    /// <summary>LM head linear [vocab, D], int8 in quantized files (absent when tied to the embedding).</summary>
    public const string LmHead = "lm_head";

    /// <summary>Prefix of block <paramref name="i"/>'s tensors.</summary>
    public static string Block(int i) => $"blocks.{i}.";
    /// <summary>Norm before attention (suffix of <see cref="Block"/>).</summary>
    public const string AttnNorm = "attn_norm";
    /// <summary>Norm before the MLP.</summary>
    public const string MlpNorm = "mlp_norm";
    /// <summary>Query projection [heads · head dim, D].</summary>
    public const string Q = "q";
    /// <summary>Key projection [kv heads · head dim, D].</summary>
    public const string K = "k";
    /// <summary>Value projection [kv heads · head dim, D].</summary>
    public const string V = "v";
    /// <summary>Attention output projection [D, heads · head dim].</summary>
    public const string O = "o";
    /// <summary>Gate projection [mlp, D] (gated MLPs).</summary>
    public const string Gate = "gate";
    /// <summary>Up projection [mlp, D].</summary>
    public const string Up = "up";
    /// <summary>Down projection [D, mlp].</summary>
    public const string Down = "down";

    /// <summary>Suffixes of a linear's tensors.</summary>
    public const string FloatWeight = ".w", Int8Weight = ".q", Int4Weight = ".q4", Scales = ".s", Bias = ".b";
    /// <summary>Suffixes of a norm's tensors.</summary>
    public const string Gamma = ".g", Beta = ".b";
}
