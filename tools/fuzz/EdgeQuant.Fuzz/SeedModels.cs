using EdgeQuant.Converter;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>The test assets the seed corpora start from: small models of every kind the loaders accept.</summary>
public static class SeedModels
{
    /// <summary>ONNX seeds (paths under tests/assets): template ViTs, plan models (image and text), a BERT, hostile ones.</summary>
    public static readonly string[] OnnxSeeds =
    [
        "vit_meanpool.onnx", "unknown_op.onnx", "zoo/unfold_meanpool.onnx", "zoo/sincos_nocls.onnx", "zoo/tenc_seqfirst.onnx",
        "zoo/text_maxpool_classifier/model.onnx", "hostile/dup_output.onnx",
    ];

    /// <summary>Hugging Face folder seeds (under tests/assets/plm).</summary>
    public static readonly string[] HfSeeds = ["bert_cls", "distilbert_cls", "roberta_cls", "vit_cls", "bert_emb"];

    /// <summary>.eqm seeds converted from the assets: FP32 and int8 of a template ViT, a plan ViT (also with int8 stem/head ops), a text classifier with its tokenizer and a head-graph text encoder.</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Eqm(string repoRoot)
    {
        string assets = Path.Combine(repoRoot, "tests", "assets"), dir = Scratch.Fresh();
        string[] sentences = ["a gripping , funny film", "the plot is thin and the acting worse", "unbelievable !"];
        int[][] ids = [[1, 5, 9, 2], [1, 7, 3, 11, 4, 2], [1, 2]];
        (string Name, ConvertRequest Request)[] jobs =
        [
            ("vit_fp32", new() { OnnxPath = Path.Combine(assets, "vit_meanpool.onnx"), OutputPath = "", Precision = Schema.Precisions.Fp32 }),
            ("vit_int8", new() { OnnxPath = Path.Combine(assets, "vit_meanpool.onnx"), OutputPath = "", CalibRandom = 4 }),
            ("plan_fp32", new() { OnnxPath = Path.Combine(assets, "zoo", "unfold_meanpool.onnx"), OutputPath = "", Precision = Schema.Precisions.Fp32 }),
            ("plan_int8", new() { OnnxPath = Path.Combine(assets, "zoo", "unfold_meanpool.onnx"), OutputPath = "", CalibRandom = 4 }),
            ("plan_int8ops", new() { OnnxPath = Path.Combine(assets, "zoo", "conv_linear_stem.onnx"), OutputPath = "", CalibRandom = 4, Ptq = new() { PlanInt8MinMacs = 0 } }),
            ("text_fp32", new() { HfDir = Path.Combine(assets, "plm", "bert_cls"), OutputPath = "", Precision = Schema.Precisions.Fp32 }),
            ("text_int8", new() { HfDir = Path.Combine(assets, "plm", "bert_cls"), OutputPath = "", CalibSentences = sentences }),
            ("texthead_int8", new() { OnnxPath = Path.Combine(assets, "zoo", "text_meanpool_proj_l2", "model.onnx"), OutputPath = "", CalibIds = ids }),
        ];
        foreach (var (name, r) in jobs)
        {
            string path = Path.Combine(dir, name + ".eqm");
            ModelConverter.Convert(new ConvertRequest
            {
                OnnxPath = r.OnnxPath, HfDir = r.HfDir, OutputPath = path, Precision = r.Precision, CalibRandom = r.CalibRandom,
                CalibSentences = r.CalibSentences, CalibIds = r.CalibIds, Ptq = r.Ptq,
            });
            yield return (name, File.ReadAllBytes(path));
        }
    }
}
