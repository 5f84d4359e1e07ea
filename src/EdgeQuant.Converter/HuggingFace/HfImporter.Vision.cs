using System.Text.Json;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.HuggingFace;

public static partial class HfImporter
{
    /// <summary>
    /// ViTForImageClassification and DeiT (with or without the distillation head): pre-LN blocks, class token (DeiT:
    /// plus distillation token), final LayerNorm, classifier on the class token (DeiT with teacher: mean of both heads).
    /// </summary>
    private static FloatEncoder ImportVit(HfConfig cfg, SafeTensors st, string type, string dir)
    {
        bool deit = type == "deit";
        int d = cfg.Int("hidden_size", min: 1, max: MaxHidden), layers = cfg.Int("num_hidden_layers", min: 1, max: MaxLayers),
            heads = cfg.Int("num_attention_heads", min: 1, max: MaxHidden), mlp = cfg.Int("intermediate_size", min: 1, max: MaxMlp),
            size = cfg.Int("image_size", 224, min: 1, max: Engine.Model.MaxImageSide), patch = cfg.Int("patch_size", 16, min: 1, max: Engine.Model.MaxImageSide),
            ch = cfg.Int("num_channels", 3, min: 1, max: 4);
        if (d % heads != 0) throw new HfImportException($"{cfg.Path}: hidden_size {d} is not divisible by {heads} heads");
        if (patch == 0 || size % patch != 0) throw new HfImportException($"{cfg.Path}: image_size {size} is not a multiple of patch_size {patch}");
        if (!cfg.Architecture.Contains("ImageClassification", StringComparison.Ordinal))
            throw new HfImportException($"{cfg.Path}: architecture '{cfg.Architecture}' has no classifier; vision import needs …ForImageClassification");
        string bp = BasePrefix(st, "embeddings.cls_token", deit ? ["deit.", "vit.", ""] : ["vit.", "deit.", ""]);
        bool dist = st.Contains(bp + "embeddings.distillation_token");
        bool teacher = st.Contains("distillation_classifier.weight");
        int patches = (size / patch) * (size / patch), seq = patches + 1 + (dist ? 1 : 0);
        var (scale, mean, std) = Preprocessing(dir, ch);
        var enc = new FloatEncoder
        {
            Config = new EncoderConfig
            {
                Hidden = d, Layers = layers, Heads = heads, MlpDim = mlp, SeqLen = seq, NormFirst = true, Activation = Activation(cfg, "hidden_act"),
                Pooling = teacher ? Schema.Poolings.ClsDist : Schema.Poolings.Cls, ClassToken = true, DistillationToken = dist, FinalNorm = true,
                LayerNormEps = cfg.Epsilon("layer_norm_eps", 1e-12),
            },
            Image = new ImageConfig { Channels = ch, Height = size, Width = size, PatchSize = patch, Scale = scale, Mean = mean, Std = std },
            Source = $"Hugging Face {cfg.Architecture} ({type})",
        };
        enc.Add("embed.patch.w", st.Read(bp + "embeddings.patch_embeddings.projection.weight", d, ch, patch, patch), d, ch * patch * patch);
        enc.Add("embed.patch.b", st.Read(bp + "embeddings.patch_embeddings.projection.bias", d), d);
        enc.Add("embed.cls", st.Read(bp + "embeddings.cls_token", 1, 1, d), d);
        if (dist) enc.Add("embed.dist", st.Read(bp + "embeddings.distillation_token", 1, 1, d), d);
        enc.Add("embed.pos", st.Read(bp + "embeddings.position_embeddings", 1, seq, d), seq, d);
        for (int i = 0; i < layers; i++)
        {
            string s = $"{bp}encoder.layer.{i}.", p = $"blocks.{i}.";
            Norm(enc, st, s + "layernorm_before", p + "ln1", d);
            Qkv(enc, st, s + "attention.attention.query", s + "attention.attention.key", s + "attention.attention.value", p + "qkv", d);
            Linear(enc, st, s + "attention.output.dense", p + "out", d, d);
            Norm(enc, st, s + "layernorm_after", p + "ln2", d);
            Linear(enc, st, s + "intermediate.dense", p + "fc1", mlp, d);
            Linear(enc, st, s + "output.dense", p + "fc2", d, mlp);
        }
        Norm(enc, st, bp + "layernorm", "final_ln", d);
        int classes;
        if (teacher)
        {
            // logits = (W_c·LN(x_cls) + b_c + W_d·LN(x_dist) + b_d) / 2 = [W_c, W_d]/2 · [LN(x_cls); LN(x_dist)] + (b_c + b_d)/2
            classes = st.Shape("cls_classifier.weight")[0];
            float[] wc = st.Read("cls_classifier.weight", classes, d), wd = st.Read("distillation_classifier.weight", classes, d);
            float[] bc = st.Read("cls_classifier.bias", classes), bd = st.Read("distillation_classifier.bias", classes);
            var w = new float[classes * 2 * d]; // [C, 2D]
            var b = new float[classes];         // [C]
            for (int o = 0; o < classes; o++)
            {
                for (int k = 0; k < d; k++) (w[o * 2 * d + k], w[o * 2 * d + d + k]) = (0.5f * wc[o * d + k], 0.5f * wd[o * d + k]);
                b[o] = 0.5f * (bc[o] + bd[o]);
            }
            enc.Add("head.w", w, classes, 2 * d);
            enc.Add("head.b", b, classes);
        }
        else
        {
            classes = st.Shape("classifier.weight")[0];
            Linear(enc, st, "classifier", "head", classes, d);
        }
        enc.Config.NumClasses = classes;
        enc.Labels = Labels(cfg, classes);
        return enc;
    }

    /// <summary>Pixel scale, mean and std from preprocessor_config.json (the ViT image processor's defaults otherwise).</summary>
    private static (float Scale, float[] Mean, float[] Std) Preprocessing(string dir, int ch)
    {
        float scale = 1f / 255f;
        float[] mean = Enumerable.Repeat(0.5f, ch).ToArray(), std = Enumerable.Repeat(0.5f, ch).ToArray();
        string path = Path.Combine(dir, "preprocessor_config.json");
        if (!File.Exists(path)) return (scale, mean, std);
        using var doc = ParseJson(path);
        var r = doc.RootElement;
        float[] Vec(string key, float[] fallback)
        {
            if (!r.TryGetProperty(key, out var v)) return fallback;
            if (v.ValueKind == JsonValueKind.Number) return Enumerable.Repeat(v.GetSingle(), ch).ToArray();
            if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != ch) throw new HfImportException($"{path}: \"{key}\" must have {ch} values");
            return v.EnumerateArray().Select(e => e.GetSingle()).ToArray();
        }
        if (r.TryGetProperty("do_normalize", out var dn) && dn.ValueKind == JsonValueKind.False) (mean, std) = (new float[ch], Enumerable.Repeat(1f, ch).ToArray());
        else (mean, std) = (Vec("image_mean", mean), Vec("image_std", std));
        if (r.TryGetProperty("rescale_factor", out var rf) && rf.ValueKind == JsonValueKind.Number) scale = rf.GetSingle();
        if (r.TryGetProperty("do_rescale", out var dr) && dr.ValueKind == JsonValueKind.False) scale = 1f;
        return (scale, mean, std);
    }
}
