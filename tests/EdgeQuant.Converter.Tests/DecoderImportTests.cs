using System.Text.Json.Nodes;
using EdgeQuant.Converter;
using EdgeQuant.Converter.Decoder;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Format;
using EdgeQuant.Tests;

namespace EdgeQuant.Converter.Tests;

/// <summary>Hugging Face decoder folders: what maps, and clear errors for what does not.</summary>
public class DecoderImportTests : TempFolder
{
    private static string Asset(string name) => TestPaths.Asset("decoder/" + name);

    /// <summary>A copy of a committed folder with its config.json edited (and optionally the safetensors replaced).</summary>
    private string Variant(string name, Action<JsonObject> edit)
    {
        string d = Path.Combine(Dir, name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(d);
        foreach (string f in Directory.GetFiles(Asset(name))) File.Copy(f, Path.Combine(d, Path.GetFileName(f)));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "config.json")))!.AsObject();
        edit(cfg);
        File.WriteAllText(Path.Combine(d, "config.json"), cfg.ToJsonString());
        return d;
    }

    [Fact]
    public void EachFamilyMapsToTheDecoderSchema()
    {
        var llama = HfDecoderImporter.Import(Asset("llama")).Config;
        Assert.Equal((4, 2, 24, Schema.NormKinds.RmsNorm, Schema.Activations.Silu, true, false), (llama.Heads, llama.KvHeads, llama.HeadDim, llama.Norm, llama.Activation, llama.GatedMlp, llama.TiedEmbeddings));
        var qwen = HfDecoderImporter.Import(Asset("qwen2")).Config;
        Assert.Equal((1, true, true, Schema.PositionKinds.RopeHalf), (qwen.KvHeads, qwen.QkvBias, qwen.TiedEmbeddings, qwen.Positions));
        var gpt2 = HfDecoderImporter.Import(Asset("gpt2")).Config;
        Assert.Equal((Schema.NormKinds.LayerNorm, Schema.Activations.GeluTanh, false, Schema.PositionKinds.Learned, true, true),
            (gpt2.Norm, gpt2.Activation, gpt2.GatedMlp, gpt2.Positions, gpt2.OutBias, gpt2.MlpBias));
        Assert.True(HfDecoderImporter.IsDecoder(Asset("gpt2")));
        Assert.False(HfDecoderImporter.IsDecoder(TestPaths.Asset("plm/bert_cls")));
    }

    [Fact]
    public void RopeScalingFollowsTransformers()
    {
        // llama3 scaling with factor 8 over θ = 500000, head 24, original 64 positions: long wavelengths are divided by 8,
        // short ones kept, the band between blended (values from transformers' _compute_llama3_parameters).
        var dec = HfDecoderImporter.Import(Asset("llama"));
        float[] inv = dec.Tensors[DecoderTensors.RopeInvFreq].Data;
        Assert.Equal(12, inv.Length);
        Assert.Equal(1f, inv[0]);
        for (int i = 1; i < inv.Length; i++) Assert.True(inv[i] < inv[i - 1]);
        double plain = 1 / Math.Pow(500000, 22.0 / 24);
        Assert.Equal(plain / 8, inv[11], 1e-9);
    }

    [Theory]
    [InlineData("model_type", "falcon", "model_type 'falcon' is not a supported decoder")]
    [InlineData("num_key_value_heads", 3, "not a multiple of 3 key/value heads")]
    [InlineData("hidden_act", "tanh", "hidden_act 'tanh' is not supported")]
    [InlineData("rope_theta", -1.0, "rope_theta")]
    public void BadConfigsNameTheKey(string key, object value, string message)
    {
        string d = Variant("llama", c => c[key] = JsonValue.Create(value));
        var e = Assert.ThrowsAny<Exception>(() => HfDecoderImporter.Import(d));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void UnsupportedRopeScalingAndSlidingWindowsAreRefused()
    {
        string d = Variant("llama", c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 });
        Assert.Contains("rope scaling 'yarn' is not supported", Assert.Throws<HfImportException>(() => HfDecoderImporter.Import(d)).Message);
        d = Variant("qwen2", c => { c["use_sliding_window"] = true; c["sliding_window"] = 16; });
        Assert.Contains("sliding-window attention", Assert.Throws<HfImportException>(() => HfDecoderImporter.Import(d)).Message);
    }

    [Fact]
    public void AMissingOrMisShapedTensorIsNamed()
    {
        // A config that promises an untied head the checkpoint does not have, and one whose MLP size differs from the weights.
        string d = Variant("qwen2", c => c["tie_word_embeddings"] = false);
        Assert.Contains("'lm_head.weight' is missing", Assert.Throws<HfImportException>(() => HfDecoderImporter.Import(d)).Message);
        d = Variant("llama", c => c["intermediate_size"] = 100);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight' has shape [176, 64], expected [100, 64]", Assert.Throws<HfImportException>(() => HfDecoderImporter.Import(d)).Message);
    }

    [Fact]
    public void ConversionIsReproducibleAndRefusesCalibrationData()
    {
        string a = Path.Combine(Dir, "a.eqm"), b = Path.Combine(Dir, "b.eqm");
        foreach (string o in new[] { a, b })
            ModelConverter.Convert(new ConvertRequest { HfDir = Asset("llama"), OutputPath = o, Ptq = new() { WeightBits = 4 }, GroupSize = 64 });
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        var r = ModelConverter.Convert(new ConvertRequest { HfDir = Asset("gpt2"), OutputPath = a, Precision = Schema.Precisions.Fp32 });
        Assert.NotNull(r.Decoder);
        Assert.Null(r.Encoder);
        Assert.Contains("takes no labels, calibration data", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { HfDir = Asset("gpt2"), OutputPath = a, CalibIds = [[1, 2]] })).Message);
        Assert.Contains("8-bit or 4-bit", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { HfDir = Asset("gpt2"), OutputPath = a, Ptq = new() { WeightBits = 7 } })).Message);
        Assert.Contains("group size 48", Assert.Throws<ArgumentException>(() =>
            DecoderQuantizer.Quantize(HfDecoderImporter.Import(Asset("gpt2")), new DecoderQuantOptions { Weights = Schema.DecoderWeightKinds.S4Group, GroupSize = 48 })).Message);
    }
}
