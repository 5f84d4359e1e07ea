using EdgeQuant.Converter;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The ONNX reader and importers through the converter's one entry point (FP32, so no calibration data is needed),
/// then the written file loaded and run once. Input: an .onnx file. Expected: <see cref="OnnxImportException"/>.
/// Findings: any other exception, a converted file the loader refuses (the converter must refuse first, naming the
/// node), an accepted model computing NaN/∞ from finite weights.
/// </summary>
public sealed class OnnxHarness : Harness
{
    public override string Name => "onnx";
    public override string Description => "ONNX protobuf reader, ViT/BERT/plan importers, FP32 write, load, one run";

    public override void Run(ReadOnlySpan<byte> input)
    {
        string dir = Scratch.Fresh(), onnx = Path.Combine(dir, "model.onnx"), eqm = Path.Combine(dir, "model.eqm");
        File.WriteAllBytes(onnx, input.ToArray());
        try { ModelConverter.Convert(new ConvertRequest { OnnxPath = onnx, OutputPath = eqm, Precision = Schema.Precisions.Fp32 }); }
        catch (OnnxImportException) { return; }
        ModelProbe.RunImported(() => Model.Load(eqm), "onnx");
    }

    public override void WriteSeeds(string repoRoot, string dir)
    {
        string assets = Path.Combine(repoRoot, "tests", "assets");
        foreach (string rel in SeedModels.OnnxSeeds)
            File.Copy(Path.Combine(assets, rel), Path.Combine(dir, rel.Replace('/', '_') + ".fuzz"), true);
    }
}
