using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

/// <summary>
/// The synthetic-outlier BERT: the tiny SST-2 BERT trained with 2 hidden channels whose LayerNorm γ and β are ×50 in
/// every LayerNorm (tests/assets/plm/sst2_outliers, `tools/modelzoo/sst2-tiny-bert/train.py --outlier-channels 2`).
/// Plain min-max W8A8 must lose accuracy; SmoothQuant and Outlier Suppression's gamma migration must recover it.
/// </summary>
public class Sst2OutlierTests(ITestOutputHelper output)
{
    private static readonly string Dir = TestPaths.Asset(Path.Combine("plm", "sst2_outliers"));

    [Fact]
    public void MinMaxDegradesAndSmoothQuantOrGammaMigrationRecover()
    {
        var enc = HfImporter.Import(Dir);
        // The outlier structure is real: two channels' γ are tens of times the median |γ| in every LayerNorm.
        foreach (string ln in (string[])["embed_ln", "blocks.0.ln1", "blocks.1.ln2"])
        {
            float[] g = enc.Get(ln + ".g").Select(MathF.Abs).Order().ToArray();
            Assert.True(g[^2] > 10 * g[g.Length / 2], $"{ln}: second-largest |gamma| {g[^2]:G3} vs median {g[g.Length / 2]:G3}");
        }
        using var fp32 = Model.Load(enc.ToFp32Writer().ToArray());
        var (text, label) = Sst2TinyTests.Dev();
        var calib = Sst2TinyTests.Calibration(fp32);
        double Acc(PtqOptions o)
        {
            using var m = Model.Load(EncoderQuantizer.Quantize(enc, calib, o).ToArray());
            return Sst2TinyTests.Accuracy(m, text, label);
        }
        double accFp32 = Sst2TinyTests.Accuracy(fp32, text, label);
        double minmax = Acc(new PtqOptions { Calibrator = CalibratorKind.MinMax });
        double smooth = Acc(new PtqOptions { Calibrator = CalibratorKind.MinMax, SmoothAlpha = 0.5 });
        double gamma = Acc(new PtqOptions { Calibrator = CalibratorKind.MinMax, GammaMigration = true });
        output.WriteLine($"SST-2 dev, outlier BERT: FP32 {accFp32:F2} %, W8A8 min-max {minmax:F2} %, + SmoothQuant 0.5 {smooth:F2} %, + gamma migration {gamma:F2} %");
        Assert.True(minmax <= accFp32 - 1, $"plain min-max should lose at least a point ({minmax:F2} vs {accFp32:F2} %)");
        Assert.True(Math.Abs(smooth - accFp32) <= 0.5, $"SmoothQuant {smooth:F2} % vs FP32 {accFp32:F2} %");
        Assert.True(Math.Abs(gamma - accFp32) <= 0.5, $"gamma migration {gamma:F2} % vs FP32 {accFp32:F2} %");
    }
}
