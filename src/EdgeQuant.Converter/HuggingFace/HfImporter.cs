using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.HuggingFace;

/// <summary>Options of the Hugging Face folder import.</summary>
public sealed class HfImportOptions
{
    /// <summary>Output of a text model: null = from the architecture (…ForSequenceClassification → classification, …Model → embedding).</summary>
    public string? Head { get; set; }
    /// <summary>Cap on the sequence length (tokens, specials included); 0 = the model's maximum. Smaller caps shrink session memory.</summary>
    public int MaxLength { get; set; }
    /// <summary>Receives progress lines.</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>
/// Imports a Hugging Face model folder (config.json + model.safetensors + vocab) into a <see cref="FloatEncoder"/>:
/// BERT, MiniLM-style BERTs, RoBERTa, DistilBERT (sequence classification or plain encoders for embeddings), and ViT /
/// DeiT image classifiers. Tensor names follow the transformers module trees.
/// </summary>
public static partial class HfImporter
{
    /// <summary>Imports <paramref name="dir"/>; throws <see cref="HfImportException"/> naming what it cannot map.</summary>
    public static FloatEncoder Import(string dir, HfImportOptions? options = null)
    {
        options ??= new HfImportOptions();
        var log = options.Log ?? (_ => { });
        string cfgPath = Path.Combine(dir, "config.json");
        if (!File.Exists(cfgPath)) throw new HfImportException($"{dir}: no config.json (not a Hugging Face model folder)");
        using var doc = ParseJson(cfgPath);
        var cfg = new HfConfig(doc.RootElement, cfgPath);
        string type = cfg.Str("model_type");
        using var st = SafeTensors.OpenFolder(dir);
        log($"HF: model_type '{type}', architecture '{cfg.Architecture}', {st.Names.Count()} tensors");
        var enc = type switch
        {
            "bert" or "roberta" or "xlm-roberta" or "camembert" => ImportBert(cfg, st, type, options),
            "distilbert" => ImportDistilBert(cfg, st, options),
            "vit" or "deit" => ImportVit(cfg, st, type, dir),
            _ => throw new HfImportException($"{cfgPath}: model_type '{type}' is not supported (bert, roberta, distilbert, vit, deit)"),
        };
        if (enc.Text != null) AttachTokenizer(enc, dir, log);
        var c = enc.Config;
        log($"encoder: {c.Layers} blocks, hidden {c.Hidden}, {c.Heads} heads, MLP {c.MlpDim} ({c.Activation}), max {c.SeqLen} tokens, " +
            (enc.Text is { } t ? $"head {t.Head}" : $"{c.NumClasses} classes"));
        return enc;
    }

    /// <summary>True when <paramref name="dir"/>'s config.json describes a vision model (model_type vit or deit).</summary>
    public static bool IsVision(string dir)
    {
        string cfg = Path.Combine(dir, "config.json");
        if (!File.Exists(cfg)) throw new HfImportException($"{dir}: no config.json (not a Hugging Face model folder)");
        using var doc = ParseJson(cfg);
        return doc.RootElement.TryGetProperty("model_type", out var t) && t.GetString() is "vit" or "deit";
    }

    /// <summary>Parses <paramref name="dir"/>/config.json (a JSON object), naming the folder when it is missing.</summary>
    internal static JsonDocument ReadConfig(string dir, out string path)
    {
        path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) throw new HfImportException($"{dir}: no config.json (not a Hugging Face model folder)");
        return ParseJson(path);
    }

    private static JsonDocument ParseJson(string path)
    {
        byte[] bytes;
        try { bytes = Data.InputFiles.ReadAllBytes(path, Data.InputFiles.MaxTextBytes, "JSON file"); }
        catch (Exception e) when (e is IOException or InvalidDataException) { throw new HfImportException(e.Message); }
        return ParseJsonObject(bytes, path);
    }

    /// <summary>
    /// Parses a JSON object from a model folder (config, tokenizer and preprocessor configs, safetensors headers and
    /// index): invalid UTF-8 (which System.Text.Json only reports when a string is read) and a root that is not an
    /// object are import errors naming <paramref name="what"/>, like malformed JSON.
    /// </summary>
    internal static JsonDocument ParseJsonObject(ReadOnlyMemory<byte> bytes, string what)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span)) throw new HfImportException($"{what}: not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new HfImportException($"{what}: not valid JSON ({e.Message})"); }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new HfImportException($"{what}: the JSON is not an object");
    }

    private static string[] Labels(HfConfig cfg, int classes)
    {
        var labels = FloatEncoder.IndexLabels(classes);
        if (cfg.Root.TryGetProperty("id2label", out var map) && map.ValueKind == JsonValueKind.Object)
            foreach (var p in map.EnumerateObject())
            {
                if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= classes)
                    throw new HfImportException($"{cfg.Path}: id2label key \"{p.Name}\" is not a class index in [0, {classes})");
                if (p.Value.ValueKind != JsonValueKind.String) throw new HfImportException($"{cfg.Path}: id2label[\"{p.Name}\"] is not a string");
                labels[i] = p.Value.GetString()!;
            }
        return labels;
    }

    private static string Activation(HfConfig cfg, string key)
    {
        string act = cfg.Str(key, "gelu");
        return act switch
        {
            "gelu" => Schema.Activations.Gelu, // Hugging Face's hidden_act names → the schema's
            "relu" => Schema.Activations.Relu,
            _ => throw new HfImportException($"{cfg.Path}: {key} '{act}' is not supported (gelu = exact erf GELU, relu)"),
        };
    }

    /// <summary>Stored as nn.Linear: weight [out, in] (the engine's layout), bias [out].</summary>
    private static void Linear(FloatEncoder enc, SafeTensors st, string src, string dst, int outDim, int inDim)
    {
        enc.Add(dst + ".w", st.Read(src + ".weight", outDim, inDim), outDim, inDim);
        enc.Add(dst + ".b", st.Read(src + ".bias", outDim), outDim);
    }

    private static void Norm(FloatEncoder enc, SafeTensors st, string src, string dst, int d)
    {
        // Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
        bool old = !st.Contains(src + ".weight") && st.Contains(src + ".gamma");
        enc.Add(dst + ".g", st.Read(src + (old ? ".gamma" : ".weight"), d), d);
        enc.Add(dst + ".b", st.Read(src + (old ? ".beta" : ".bias"), d), d);
    }

    private static void Qkv(FloatEncoder enc, SafeTensors st, string q, string k, string v, string dst, int d)
    {
        enc.Add(dst + ".w", [.. st.Read(q + ".weight", d, d), .. st.Read(k + ".weight", d, d), .. st.Read(v + ".weight", d, d)], 3 * d, d);
        enc.Add(dst + ".b", [.. st.Read(q + ".bias", d), .. st.Read(k + ".bias", d), .. st.Read(v + ".bias", d)], 3 * d);
    }

    /// <summary>The prefix under which the base model's tensors live ("bert.", "roberta.", … or none for a bare encoder).</summary>
    private static string BasePrefix(SafeTensors st, string probe, params string[] prefixes)
    {
        foreach (string p in prefixes)
            if (st.Contains(p + probe)) return p;
        throw new HfImportException($"tensor '{prefixes[0]}{probe}' is missing from the checkpoint (looked under: {string.Join(", ", prefixes.Select(p => p.Length == 0 ? "<root>" : p))})");
    }

    private static string HeadKind(HfConfig cfg, HfImportOptions o)
    {
        string head = o.Head ?? (cfg.Architecture.EndsWith("ForSequenceClassification", StringComparison.Ordinal) ? Schema.TextHeads.Classification
            : cfg.Architecture.EndsWith("Model", StringComparison.Ordinal) || cfg.Architecture.Length == 0 ? Schema.TextHeads.Embedding
            : throw new HfImportException($"{cfg.Path}: architecture '{cfg.Architecture}' has no supported head; pass --head classification|embedding"));
        if (head is not (Schema.TextHeads.Classification or Schema.TextHeads.Embedding)) throw new HfImportException($"head '{head}' is not supported ({Schema.TextHeads.Classification}, {Schema.TextHeads.Embedding})");
        return head;
    }

    // Limits on config.json sizes, checked before any table is allocated (the engine's own limits: docs/FORMAT.md).
    private const int MaxHidden = 16384, MaxLayers = 256, MaxMlp = 65536, MaxVocab = 1 << 24, MaxPositions = 1 << 16;

    private static int SeqCap(int max, HfImportOptions o)
    {
        if (o.MaxLength < 0) throw new HfImportException($"max length {o.MaxLength} must be positive");
        return o.MaxLength > 0 ? Math.Min(max, o.MaxLength) : max;
    }

    private static FloatEncoder ImportBert(HfConfig cfg, SafeTensors st, string type, HfImportOptions o)
    {
        bool roberta = type != "bert";
        int d = cfg.Int("hidden_size", min: 1, max: MaxHidden), layers = cfg.Int("num_hidden_layers", min: 1, max: MaxLayers),
            heads = cfg.Int("num_attention_heads", min: 1, max: MaxHidden), mlp = cfg.Int("intermediate_size", min: 1, max: MaxMlp),
            vocab = cfg.Int("vocab_size", min: 2, max: MaxVocab), maxPos = cfg.Int("max_position_embeddings", min: 1, max: MaxPositions),
            types = cfg.Int("type_vocab_size", 2, max: 1024), pad = cfg.Int("pad_token_id", roberta ? 1 : 0, max: MaxVocab);
        if (cfg.Str("position_embedding_type", "absolute") != "absolute")
            throw new HfImportException($"{cfg.Path}: position_embedding_type '{cfg.Str("position_embedding_type")}' is not supported (absolute)");
        if (d % heads != 0) throw new HfImportException($"{cfg.Path}: hidden_size {d} is not divisible by {heads} heads");
        string head = HeadKind(cfg, o);
        string bp = BasePrefix(st, "embeddings.word_embeddings.weight", roberta ? ["roberta.", "", "bert."] : ["bert.", "", "roberta."]);
        int offset = roberta ? pad + 1 : 0;
        var enc = new FloatEncoder
        {
            Config = new EncoderConfig
            {
                Hidden = d, Layers = layers, Heads = heads, MlpDim = mlp, SeqLen = SeqCap(maxPos - offset, o), NormFirst = false,
                Activation = Activation(cfg, "hidden_act"), Pooling = head == Schema.TextHeads.Embedding ? Schema.Poolings.Mean : Schema.Poolings.Cls, ClassToken = false, FinalNorm = false,
                LayerNormEps = cfg.Epsilon("layer_norm_eps", 1e-12),
            },
            Text = new TextConfig
            {
                ModelType = type, VocabSize = vocab, MaxPositions = maxPos, TypeVocabSize = types, PositionOffset = offset,
                PositionsFromMask = roberta, Head = head, PoolerActivation = head == Schema.TextHeads.Classification ? Schema.PoolerActivations.Tanh : Schema.PoolerActivations.None,
            },
            Source = $"Hugging Face {cfg.Architecture} ({type})",
        };
        enc.Add("embed.word", st.Read(bp + "embeddings.word_embeddings.weight", vocab, d), vocab, d);
        enc.Add("embed.pos", st.Read(bp + "embeddings.position_embeddings.weight", maxPos, d), maxPos, d);
        if (types > 0) enc.Add("embed.type", st.Read(bp + "embeddings.token_type_embeddings.weight", types, d), types, d);
        Norm(enc, st, bp + "embeddings.LayerNorm", "embed_ln", d);
        PostLnBlocks(enc, st, bp + "encoder.layer.", BertNames, layers, d, mlp);
        if (head == Schema.TextHeads.Classification)
        {
            int classes = roberta ? st.Shape("classifier.out_proj.weight")[0] : st.Shape("classifier.weight")[0];
            enc.Config.NumClasses = classes;
            if (roberta)
            {
                Linear(enc, st, "classifier.dense", "pooler", d, d);
                Linear(enc, st, "classifier.out_proj", "head", classes, d);
            }
            else
            {
                Linear(enc, st, bp + "pooler.dense", "pooler", d, d);
                Linear(enc, st, "classifier", "head", classes, d);
            }
            enc.Labels = Labels(cfg, classes);
        }
        else enc.Config.NumClasses = d;
        return enc;
    }

    private static FloatEncoder ImportDistilBert(HfConfig cfg, SafeTensors st, HfImportOptions o)
    {
        int d = cfg.Int("dim", min: 1, max: MaxHidden), layers = cfg.Int("n_layers", min: 1, max: MaxLayers), heads = cfg.Int("n_heads", min: 1, max: MaxHidden),
            mlp = cfg.Int("hidden_dim", min: 1, max: MaxMlp), vocab = cfg.Int("vocab_size", min: 2, max: MaxVocab),
            maxPos = cfg.Int("max_position_embeddings", min: 1, max: MaxPositions);
        if (d % heads != 0) throw new HfImportException($"{cfg.Path}: dim {d} is not divisible by {heads} heads");
        string head = HeadKind(cfg, o);
        string bp = BasePrefix(st, "embeddings.word_embeddings.weight", "distilbert.", "");
        var enc = new FloatEncoder
        {
            Config = new EncoderConfig
            {
                Hidden = d, Layers = layers, Heads = heads, MlpDim = mlp, SeqLen = SeqCap(maxPos, o), NormFirst = false,
                Activation = Activation(cfg, "activation"), Pooling = head == Schema.TextHeads.Embedding ? Schema.Poolings.Mean : Schema.Poolings.Cls, ClassToken = false, FinalNorm = false,
                LayerNormEps = 1e-12f, // fixed in DistilBERT's modules
            },
            Text = new TextConfig
            {
                ModelType = "distilbert", VocabSize = vocab, MaxPositions = maxPos, TypeVocabSize = 0, Head = head,
                PoolerActivation = head == Schema.TextHeads.Classification ? Schema.PoolerActivations.Relu : Schema.PoolerActivations.None,
            },
            Source = $"Hugging Face {cfg.Architecture} (distilbert)",
        };
        enc.Add("embed.word", st.Read(bp + "embeddings.word_embeddings.weight", vocab, d), vocab, d);
        enc.Add("embed.pos", st.Read(bp + "embeddings.position_embeddings.weight", maxPos, d), maxPos, d);
        Norm(enc, st, bp + "embeddings.LayerNorm", "embed_ln", d);
        PostLnBlocks(enc, st, bp + "transformer.layer.", DistilBertNames, layers, d, mlp);
        if (head == Schema.TextHeads.Classification)
        {
            int classes = st.Shape("classifier.weight")[0];
            enc.Config.NumClasses = classes;
            Linear(enc, st, "pre_classifier", "pooler", d, d);
            Linear(enc, st, "classifier", "head", classes, d);
            enc.Labels = Labels(cfg, classes);
        }
        else enc.Config.NumClasses = d;
        return enc;
    }

    /// <summary>Module names of one post-LN block: query, key, value, attention output, its LayerNorm, MLP in, MLP out, its LayerNorm.</summary>
    private sealed record BlockNames(string Q, string K, string V, string Out, string Ln1, string Fc1, string Fc2, string Ln2);

    private static readonly BlockNames BertNames = new("attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm");

    private static readonly BlockNames DistilBertNames = new("attention.q_lin", "attention.k_lin", "attention.v_lin",
        "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm");

    /// <summary>Blocks "{prefix}{i}.{name}" of a post-LN encoder into the engine's blocks.i.* tensors.</summary>
    private static void PostLnBlocks(FloatEncoder enc, SafeTensors st, string prefix, BlockNames n, int layers, int d, int mlp)
    {
        for (int i = 0; i < layers; i++)
        {
            string s = $"{prefix}{i}.", p = $"blocks.{i}.";
            Qkv(enc, st, s + n.Q, s + n.K, s + n.V, p + "qkv", d);
            Linear(enc, st, s + n.Out, p + "out", d, d);
            Norm(enc, st, s + n.Ln1, p + "ln1", d);
            Linear(enc, st, s + n.Fc1, p + "fc1", mlp, d);
            Linear(enc, st, s + n.Fc2, p + "fc2", d, mlp);
            Norm(enc, st, s + n.Ln2, p + "ln2", d);
        }
    }

    /// <summary>Vocabulary and settings from vocab.txt (+ tokenizer_config.json) or tokenizer.json (WordPiece model).</summary>
    private static void AttachTokenizer(FloatEncoder enc, string dir, Action<string> log)
    {
        var t = enc.Text!;
        string vocabTxt = Path.Combine(dir, "vocab.txt"), tokJson = Path.Combine(dir, "tokenizer.json"), tokCfg = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(tokCfg))
        {
            using var doc = ParseJson(tokCfg);
            var r = doc.RootElement;
            if (r.TryGetProperty("do_lower_case", out var lc) && lc.ValueKind is JsonValueKind.True or JsonValueKind.False) t.LowerCase = lc.GetBoolean();
            if (r.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False) t.StripAccents = sa.GetBoolean();
            if (r.TryGetProperty("tokenize_chinese_chars", out var cc) && cc.ValueKind is JsonValueKind.True or JsonValueKind.False) t.TokenizeChineseChars = cc.GetBoolean();
        }
        if (File.Exists(vocabTxt))
        {
            enc.Vocab = Data.InputFiles.ReadAllBytes(vocabTxt, Data.InputFiles.MaxTextBytes, "vocabulary");
        }
        else if (File.Exists(tokJson))
        {
            using var doc = ParseJson(tokJson);
            var r = doc.RootElement;
            if (!r.TryGetProperty("model", out var model) || !model.TryGetProperty("type", out var mt) || mt.GetString() != "WordPiece" || !model.TryGetProperty("vocab", out var v))
            {
                t.Tokenizer = Schema.Tokenizers.None;
                log($"note: {tokJson} is not a WordPiece tokenizer; the model takes token ids (run --ids)");
                return;
            }
            var tokens = new string?[v.EnumerateObject().Count()];
            foreach (var p in v.EnumerateObject())
            {
                int id = p.Value.GetInt32();
                if ((uint)id >= (uint)tokens.Length || tokens[id] != null) throw new HfImportException($"{tokJson}: vocab ids are not 0..{tokens.Length - 1} (token '{p.Name}' has {id})");
                tokens[id] = p.Name;
            }
            enc.Vocab = Encoding.UTF8.GetBytes(string.Join("\n", tokens) + "\n");
            if (r.TryGetProperty("normalizer", out var nz) && nz.ValueKind == JsonValueKind.Object && nz.TryGetProperty("type", out var nt) && nt.GetString() == "BertNormalizer")
            {
                if (nz.TryGetProperty("lowercase", out var lc) && lc.ValueKind is JsonValueKind.True or JsonValueKind.False) t.LowerCase = lc.GetBoolean();
                if (nz.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False) t.StripAccents = sa.GetBoolean();
                if (nz.TryGetProperty("handle_chinese_chars", out var cc) && cc.ValueKind is JsonValueKind.True or JsonValueKind.False) t.TokenizeChineseChars = cc.GetBoolean();
            }
        }
        else
        {
            t.Tokenizer = Schema.Tokenizers.None;
            log(t.ModelType.Contains("roberta", StringComparison.Ordinal)
                ? "note: RoBERTa uses a byte-level BPE tokenizer, which this build does not include; the model takes token ids (run --ids)"
                : $"note: {dir} has neither vocab.txt nor tokenizer.json; the model takes token ids (run --ids)");
            return;
        }
        int lines;
        try { lines = enc.CheckVocab(); }
        catch (InvalidDataException e) { throw new HfImportException($"{dir}: {e.Message}"); }
        log($"tokenizer: WordPiece, {lines} tokens, lower-case {t.LowerCase}");
    }
}

/// <summary>Typed access to config.json with errors that name the key.</summary>
internal sealed class HfConfig(JsonElement root, string path)
{
    public JsonElement Root { get; } = root;
    public string Path { get; } = path;

    public string Architecture => Root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
        ? a[0].GetString() ?? "" : "";

    public int Int(string key, int? fallback = null, int min = 0, int max = int.MaxValue)
    {
        int i;
        if (Root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out i) && i >= 0) { }
        else if (!Root.TryGetProperty(key, out _) && fallback is int f) i = f;
        else throw new HfImportException($"{Path}: \"{key}\" is {(Root.TryGetProperty(key, out _) ? "not a non-negative integer" : "missing")}");
        if (i < min || i > max) throw new HfImportException($"{Path}: \"{key}\" is {i}; this build takes {min} to {max}");
        return i;
    }

    /// <summary>A LayerNorm epsilon: a number in (0, 1) (a negative or zero one would divide by zero or take a negative root).</summary>
    public float Epsilon(string key, double fallback)
    {
        double e = Double(key, fallback);
        if (!(e > 0 && e < 1)) throw new HfImportException($"{Path}: \"{key}\" is {e}; a LayerNorm epsilon must be in (0, 1)");
        return (float)e;
    }

    /// <summary>An optional non-negative integer: null when the key is missing or JSON null (e.g. "head_dim", "n_inner").</summary>
    public int? IntOrNull(string key, int max = int.MaxValue) =>
        !Root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null : Int(key, min: 1, max: max);

    public bool Bool(string key, bool fallback)
    {
        if (!Root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new HfImportException($"{Path}: \"{key}\" is not true or false"),
        };
    }

    /// <summary>A special token id ("bos_token_id"), or −1 when absent or null.</summary>
    public int TokenId(string key) => TokenIds(key) is [int id, ..] ? id : -1;

    /// <summary>Special token ids given as one integer or a list ("eos_token_id" of Llama 3); empty when absent or null.</summary>
    public int[] TokenIds(string key)
    {
        if (!Root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        static bool Id(JsonElement e, out int id) { id = -1; return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out id) && id >= 0; }
        if (Id(v, out int one)) return [one];
        if (v.ValueKind == JsonValueKind.Array)
        {
            var ids = new int[v.GetArrayLength()];
            for (int i = 0; i < ids.Length; i++)
                if (!Id(v[i], out ids[i])) throw new HfImportException($"{Path}: \"{key}\" entry {i} is not a token id");
            return ids;
        }
        throw new HfImportException($"{Path}: \"{key}\" is not a token id or a list of them");
    }

    public double Double(string key, double fallback) =>
        Root.TryGetProperty(key, out var v) ? v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new HfImportException($"{Path}: \"{key}\" is not a number") : fallback;

    public string Str(string key, string? fallback = null)
    {
        if (Root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String) return v.GetString()!;
        if (!Root.TryGetProperty(key, out _) && fallback != null) return fallback;
        throw new HfImportException($"{Path}: \"{key}\" is {(Root.TryGetProperty(key, out _) ? "not a string" : "missing")}");
    }
}
