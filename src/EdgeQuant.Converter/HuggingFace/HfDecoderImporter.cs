using System.Text.Json;
using EdgeQuant.Converter.Decoder;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.HuggingFace;

/// <summary>
/// Imports a Hugging Face causal language model folder (config.json + safetensors, sharded or not; F32, F16 or BF16)
/// into a <see cref="FloatDecoder"/>: <c>LlamaForCausalLM</c> (Llama 2/3, TinyLlama, SmolLM, Mistral without a sliding
/// window), <c>Qwen2ForCausalLM</c> and <c>GPT2LMHeadModel</c>. Tensor names follow the transformers module trees.
/// </summary>
public static class HfDecoderImporter
{
    /// <summary>The config.json model types this importer reads.</summary>
    public static readonly string[] ModelTypes = ["llama", "mistral", "qwen2", "gpt2"];

    /// <summary>True when <paramref name="dir"/>'s config.json names a decoder model type this importer reads.</summary>
    public static bool IsDecoder(string dir)
    {
        using var doc = HfImporter.ReadConfig(dir, out _);
        return doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String && ModelTypes.Contains(t.GetString());
    }

    /// <summary>Imports <paramref name="dir"/>; throws <see cref="HfImportException"/> naming the key or tensor it cannot map.</summary>
    public static FloatDecoder Import(string dir, Action<string>? log = null)
    {
        log ??= _ => { };
        using var doc = HfImporter.ReadConfig(dir, out string cfgPath);
        var cfg = new HfConfig(doc.RootElement, cfgPath);
        string type = cfg.Str("model_type");
        if (!ModelTypes.Contains(type)) throw new HfImportException($"{cfgPath}: model_type '{type}' is not a supported decoder ({Schema.List(ModelTypes)})");
        using var st = SafeTensors.OpenFolder(dir);
        log($"HF: model_type '{type}', architecture '{cfg.Architecture}', {st.Names.Count()} tensors");
        var used = new HashSet<string>(StringComparer.Ordinal);
        var dec = type == "gpt2" ? ImportGpt2(cfg, st, used) : ImportLlama(cfg, st, type, used);
        // Buffers some checkpoints carry (GPT-2's causal masks, old rotary caches) are recomputed by the engine.
        var unused = st.Names.Where(n => !used.Contains(n) && !n.EndsWith(".attn.bias", StringComparison.Ordinal)
            && !n.EndsWith(".attn.masked_bias", StringComparison.Ordinal) && !n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)).ToList();
        if (unused.Count > 0) log($"HF: {unused.Count} tensor(s) not used by a causal LM, e.g. '{unused[0]}'");
        var c = dec.Config;
        log($"decoder: {c.Layers} blocks, hidden {c.Hidden}, {c.Heads} heads ({c.KvHeads} key/value) of {c.HeadDim}, MLP {c.MlpDim} " +
            $"({(c.GatedMlp ? "gated " : "")}{c.Activation}), {c.Norm}, {c.Positions}, vocabulary {c.VocabSize}, {c.MaxPositions} positions{(c.TiedEmbeddings ? ", tied head" : "")}");
        return dec;
    }

    private static FloatDecoder ImportLlama(HfConfig cfg, SafeTensors st, string type, HashSet<string> used)
    {
        int d = cfg.Int("hidden_size", min: 1, max: 65536), layers = cfg.Int("num_hidden_layers", min: 1, max: 1024);
        int heads = cfg.Int("num_attention_heads", min: 1, max: 1024), kv = cfg.Int("num_key_value_heads", heads, min: 1, max: 1024);
        int dh = cfg.IntOrNull("head_dim") ?? (d % heads == 0 ? d / heads : throw new HfImportException($"{cfg.Path}: hidden_size {d} is not divisible by {heads} heads and no head_dim is given"));
        if (heads % kv != 0) throw new HfImportException($"{cfg.Path}: {heads} attention heads are not a multiple of {kv} key/value heads");
        if (dh % 2 != 0 || dh < 2) throw new HfImportException($"{cfg.Path}: head_dim {dh} must be even for rotary embeddings");
        if (type == "mistral" || type == "qwen2") CheckSlidingWindow(cfg, type);
        string act = cfg.Str("hidden_act", "silu") switch
        {
            "silu" or "swish" => Schema.Activations.Silu,
            "gelu" => Schema.Activations.Gelu,
            "gelu_new" or "gelu_pytorch_tanh" => Schema.Activations.GeluTanh,
            string other => throw new HfImportException($"{cfg.Path}: hidden_act '{other}' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh)"),
        };
        bool qkvBias = type == "qwen2" || cfg.Bool("attention_bias", false);
        var c = new DecoderConfig
        {
            ModelType = type, VocabSize = cfg.Int("vocab_size", min: 1, max: Engine.Model.MaxVocabulary), Hidden = d, Layers = layers,
            Heads = heads, KvHeads = kv, HeadDim = dh, MlpDim = cfg.Int("intermediate_size", min: 1, max: 1 << 20),
            MaxPositions = cfg.Int("max_position_embeddings", min: 1, max: 1 << 24), Norm = Schema.NormKinds.RmsNorm,
            NormEps = cfg.Epsilon("rms_norm_eps", 1e-6), Activation = act, GatedMlp = true, Positions = Schema.PositionKinds.RopeHalf,
            QkvBias = qkvBias, OutBias = type != "qwen2" && cfg.Bool("attention_bias", false), MlpBias = cfg.Bool("mlp_bias", false),
            TiedEmbeddings = cfg.Bool("tie_word_embeddings", false), BosId = cfg.TokenId("bos_token_id"), EosIds = cfg.TokenIds("eos_token_id"),
        };
        var dec = new FloatDecoder { Config = c, Source = $"Hugging Face {cfg.Architecture} ({type})" };
        Tensor(dec, st, used, "model.embed_tokens.weight", DecoderTensors.Embedding, c.VocabSize, d);
        dec.Add(DecoderTensors.RopeInvFreq, RopeInverseFrequencies(cfg, dh), dh / 2);
        int qd = heads * dh, kvd = kv * dh;
        for (int i = 0; i < layers; i++)
        {
            string s = $"model.layers.{i}.", p = DecoderTensors.Block(i);
            Tensor(dec, st, used, s + "input_layernorm.weight", p + DecoderTensors.AttnNorm + DecoderTensors.Gamma, d);
            Linear(dec, st, used, s + "self_attn.q_proj", p + DecoderTensors.Q, qd, d, c.QkvBias);
            Linear(dec, st, used, s + "self_attn.k_proj", p + DecoderTensors.K, kvd, d, c.QkvBias);
            Linear(dec, st, used, s + "self_attn.v_proj", p + DecoderTensors.V, kvd, d, c.QkvBias);
            Linear(dec, st, used, s + "self_attn.o_proj", p + DecoderTensors.O, d, qd, c.OutBias);
            Tensor(dec, st, used, s + "post_attention_layernorm.weight", p + DecoderTensors.MlpNorm + DecoderTensors.Gamma, d);
            Linear(dec, st, used, s + "mlp.gate_proj", p + DecoderTensors.Gate, c.MlpDim, d, c.MlpBias);
            Linear(dec, st, used, s + "mlp.up_proj", p + DecoderTensors.Up, c.MlpDim, d, c.MlpBias);
            Linear(dec, st, used, s + "mlp.down_proj", p + DecoderTensors.Down, d, c.MlpDim, c.MlpBias);
        }
        Tensor(dec, st, used, "model.norm.weight", DecoderTensors.FinalNorm + DecoderTensors.Gamma, d);
        if (!c.TiedEmbeddings) Tensor(dec, st, used, "lm_head.weight", DecoderTensors.LmHead + DecoderTensors.FloatWeight, c.VocabSize, d);
        else used.Add("lm_head.weight"); // some tied checkpoints store the copy too
        return dec;
    }

    private static FloatDecoder ImportGpt2(HfConfig cfg, SafeTensors st, HashSet<string> used)
    {
        int d = cfg.Int("n_embd", min: 1, max: 65536), heads = cfg.Int("n_head", min: 1, max: 1024), layers = cfg.Int("n_layer", min: 1, max: 1024);
        if (d % heads != 0) throw new HfImportException($"{cfg.Path}: n_embd {d} is not divisible by n_head {heads}");
        if (cfg.Bool("scale_attn_by_inverse_layer_idx", false)) throw new HfImportException($"{cfg.Path}: scale_attn_by_inverse_layer_idx is not supported");
        if (!cfg.Bool("scale_attn_weights", true)) throw new HfImportException($"{cfg.Path}: scale_attn_weights false (unscaled attention) is not supported");
        string act = cfg.Str("activation_function", "gelu_new") switch
        {
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Schema.Activations.GeluTanh,
            "gelu" => Schema.Activations.Gelu,
            "relu" => Schema.Activations.Relu,
            string other => throw new HfImportException($"{cfg.Path}: activation_function '{other}' is not supported (gelu_new, gelu, relu)"),
        };
        int mlp = cfg.IntOrNull("n_inner") ?? 4 * d;
        var c = new DecoderConfig
        {
            ModelType = "gpt2", VocabSize = cfg.Int("vocab_size", min: 1, max: Engine.Model.MaxVocabulary), Hidden = d, Layers = layers, Heads = heads,
            KvHeads = heads, HeadDim = d / heads, MlpDim = mlp, MaxPositions = cfg.Int("n_positions", min: 1, max: 1 << 20),
            Norm = Schema.NormKinds.LayerNorm, NormEps = cfg.Epsilon("layer_norm_epsilon", 1e-5), Activation = act, GatedMlp = false,
            Positions = Schema.PositionKinds.Learned, QkvBias = true, OutBias = true, MlpBias = true,
            TiedEmbeddings = cfg.Bool("tie_word_embeddings", true), BosId = cfg.TokenId("bos_token_id"), EosIds = cfg.TokenIds("eos_token_id"),
        };
        // GPT2LMHeadModel saves "transformer.*"; GPT2Model (and the original hub files) save the names bare.
        string b = st.Contains("transformer.wte.weight") ? "transformer." : "";
        var dec = new FloatDecoder { Config = c, Source = $"Hugging Face {cfg.Architecture} (gpt2)" };
        Tensor(dec, st, used, b + "wte.weight", DecoderTensors.Embedding, c.VocabSize, d);
        Tensor(dec, st, used, b + "wpe.weight", DecoderTensors.Positions, c.MaxPositions, d);
        for (int i = 0; i < layers; i++)
        {
            string s = $"{b}h.{i}.", p = DecoderTensors.Block(i);
            Norm(dec, st, used, s + "ln_1", p + DecoderTensors.AttnNorm, d);
            // Conv1D stores [in, out]; c_attn's out is q | k | v.
            float[] w = Read(st, used, s + "attn.c_attn.weight", d, 3 * d), bias = Read(st, used, s + "attn.c_attn.bias", 3 * d);
            string[] qkv = [DecoderTensors.Q, DecoderTensors.K, DecoderTensors.V];
            for (int j = 0; j < 3; j++)
            {
                dec.Add(p + qkv[j] + DecoderTensors.FloatWeight, Transpose(w, d, 3 * d, j * d, d), d, d);
                dec.Add(p + qkv[j] + DecoderTensors.Bias, bias[(j * d)..((j + 1) * d)], d);
            }
            Conv1D(dec, st, used, s + "attn.c_proj", p + DecoderTensors.O, d, d);
            Norm(dec, st, used, s + "ln_2", p + DecoderTensors.MlpNorm, d);
            Conv1D(dec, st, used, s + "mlp.c_fc", p + DecoderTensors.Up, mlp, d);
            Conv1D(dec, st, used, s + "mlp.c_proj", p + DecoderTensors.Down, d, mlp);
        }
        Norm(dec, st, used, b + "ln_f", DecoderTensors.FinalNorm, d);
        if (!c.TiedEmbeddings) Tensor(dec, st, used, "lm_head.weight", DecoderTensors.LmHead + DecoderTensors.FloatWeight, c.VocabSize, d);
        else used.Add("lm_head.weight");
        return dec;
    }

    /// <summary>
    /// Rotary inverse frequencies 1 / θ^(2i/d) as transformers computes them (float32 exponent and power), with
    /// rope_scaling "linear" (÷ factor) or "llama3" (long wavelengths ÷ factor, a smooth blend between) applied.
    /// </summary>
    internal static float[] RopeInverseFrequencies(HfConfig cfg, int dh)
    {
        float theta = (float)cfg.Double("rope_theta", 10000.0);
        if (!(theta > 1) || !float.IsFinite(theta)) throw new HfImportException($"{cfg.Path}: rope_theta {theta} must be a finite number above 1");
        var inv = new float[dh / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1f / (float)Math.Pow(theta, (float)(2 * i) / dh);
        if (!cfg.Root.TryGetProperty("rope_scaling", out var rs) || rs.ValueKind == JsonValueKind.Null) return inv;
        if (rs.ValueKind != JsonValueKind.Object) throw new HfImportException($"{cfg.Path}: rope_scaling is not an object");
        var sc = new HfConfig(rs, cfg.Path + " rope_scaling");
        string kind = sc.Root.TryGetProperty("rope_type", out _) ? sc.Str("rope_type") : sc.Str("type");
        double factor = sc.Double("factor", double.NaN);
        if (kind != "default" && !(factor >= 1 && factor < 1e6)) throw new HfImportException($"{sc.Path}: factor {factor} must be a number ≥ 1");
        switch (kind)
        {
            case "default":
                return inv;
            case "linear":
                for (int i = 0; i < inv.Length; i++) inv[i] = (float)(inv[i] / factor);
                return inv;
            case "llama3":
                double lo = sc.Double("low_freq_factor", double.NaN), hi = sc.Double("high_freq_factor", double.NaN);
                double old = sc.Int("original_max_position_embeddings", min: 1);
                if (!(lo > 0 && hi > lo)) throw new HfImportException($"{sc.Path}: need 0 < low_freq_factor < high_freq_factor (got {lo}, {hi})");
                double loWave = old / lo, hiWave = old / hi;
                for (int i = 0; i < inv.Length; i++)
                {
                    double f = inv[i], wave = 2 * Math.PI / f;
                    double scaled = wave > loWave ? f / factor : f;
                    if (wave >= hiWave && wave <= loWave)
                    {
                        double smooth = (old / wave - lo) / (hi - lo);
                        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                    }
                    inv[i] = (float)scaled;
                }
                return inv;
            default:
                throw new HfImportException($"{sc.Path}: rope scaling '{kind}' is not supported (linear, llama3)");
        }
    }

    private static void CheckSlidingWindow(HfConfig cfg, string type)
    {
        if (type == "qwen2" && !cfg.Bool("use_sliding_window", false)) return;
        if (cfg.Root.TryGetProperty("sliding_window", out var w) && w.ValueKind == JsonValueKind.Number
            && w.TryGetInt64(out long win) && win < cfg.Int("max_position_embeddings", min: 1))
            throw new HfImportException($"{cfg.Path}: sliding-window attention ({win} tokens) is not supported");
    }

    private static float[] Read(SafeTensors st, HashSet<string> used, string name, params int[] shape)
    {
        used.Add(name);
        return st.Read(name, shape);
    }

    private static void Tensor(FloatDecoder dec, SafeTensors st, HashSet<string> used, string src, string dst, params int[] shape) =>
        dec.Add(dst, Read(st, used, src, shape), shape);

    private static void Linear(FloatDecoder dec, SafeTensors st, HashSet<string> used, string src, string dst, int outDim, int inDim, bool bias)
    {
        Tensor(dec, st, used, src + ".weight", dst + DecoderTensors.FloatWeight, outDim, inDim);
        if (bias) Tensor(dec, st, used, src + ".bias", dst + DecoderTensors.Bias, outDim);
        else if (st.Contains(src + ".bias")) throw new HfImportException($"tensor '{src}.bias' exists but config.json says this linear has no bias");
    }

    private static void Conv1D(FloatDecoder dec, SafeTensors st, HashSet<string> used, string src, string dst, int outDim, int inDim)
    {
        dec.Add(dst + DecoderTensors.FloatWeight, Transpose(Read(st, used, src + ".weight", inDim, outDim), inDim, outDim, 0, outDim), outDim, inDim);
        Tensor(dec, st, used, src + ".bias", dst + DecoderTensors.Bias, outDim);
    }

    private static void Norm(FloatDecoder dec, SafeTensors st, HashSet<string> used, string src, string dst, int d)
    {
        Tensor(dec, st, used, src + ".weight", dst + DecoderTensors.Gamma, d);
        Tensor(dec, st, used, src + ".bias", dst + DecoderTensors.Beta, d);
    }

    /// <summary>Columns [col0, col0 + cols) of a row-major [rows, ld] matrix, transposed to [cols, rows].</summary>
    private static float[] Transpose(float[] src, int rows, int ld, int col0, int cols)
    {
        var dst = new float[(long)cols * rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[(long)c * rows + r] = src[(long)r * ld + col0 + c];
        return dst;
    }
}
