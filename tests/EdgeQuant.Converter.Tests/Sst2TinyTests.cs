using System.Text.Json;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

/// <summary>
/// The trained tiny SST-2 BERT (tests/assets/plm/sst2_tiny, tools/modelzoo/sst2-tiny-bert): engine vs PyTorch logits,
/// FP32 and INT8 accuracy on the 872 SST-2 dev sentences through the engine's own tokenizer.
/// </summary>
public class Sst2TinyTests(ITestOutputHelper output)
{
    private static readonly string Dir = TestPaths.Asset(Path.Combine("plm", "sst2_tiny"));

    internal static (string[] Text, int[] Label) Dev()
    {
        var rows = File.ReadLines(TestPaths.Shared("data/sst2/validation.tsv")).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')).ToArray();
        return (rows.Select(r => r[0]).ToArray(), rows.Select(r => int.Parse(r[1])).ToArray());
    }

    internal static double Accuracy(Model m, string[] text, int[] label)
    {
        using var s = m.CreateSession();
        var y = new float[m.OutputLength];
        int ok = 0;
        for (int i = 0; i < text.Length; i++)
        {
            s.RunText(text[i], y);
            if ((y[1] > y[0] ? 1 : 0) == label[i]) ok++;
        }
        return 100.0 * ok / text.Length;
    }

    /// <summary>The first 512 SST-2 train sentences as token ids (the converter's calibration set).</summary>
    internal static List<int[]> Calibration(Model fp32)
    {
        var train = File.ReadLines(TestPaths.Shared("data/sst2/train.tsv")).Skip(1).Take(512).Select(l => l.Split('\t')[0]).ToArray();
        var tok = fp32.CreateTokenizer();
        return train.Select(t => { var ids = new int[fp32.MaxTokens]; return ids[..tok.Encode(t, ids, ids.Length)]; }).ToList();
    }

    [Fact]
    public void Fp32MatchesTorchAndInt8StaysWithinHalfAPoint()
    {
        var enc = HfImporter.Import(Dir);
        using var fp32 = Model.Load(enc.ToFp32Writer().ToArray());
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "expected.json")));
        float worst = 0;
        using (var s = fp32.CreateSession())
            foreach (var r in doc.RootElement.GetProperty("dev_reference").EnumerateArray())
            {
                int[] ids = r.GetProperty("input_ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
                float[] logits = r.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
                var y = new float[2];
                s.RunTokens(ids, default, default, y);
                worst = Math.Max(worst, Math.Max(Math.Abs(y[0] - logits[0]), Math.Abs(y[1] - logits[1])));
            }
        Assert.True(worst <= 1e-4f, $"max abs logit diff vs PyTorch {worst}");

        var (text, label) = Dev();
        double torch = 100 * doc.RootElement.GetProperty("dev_accuracy_torch").GetDouble();
        double accFp32 = Accuracy(fp32, text, label);
        var calib = Calibration(fp32);
        using var int8 = Model.Load(EncoderQuantizer.Quantize(enc, calib, new PtqOptions()).ToArray());
        double accInt8 = Accuracy(int8, text, label);
        using var integer = Model.Load(EncoderQuantizer.Quantize(enc, calib, new PtqOptions { IntegerOnly = true }).ToArray());
        double accInteger = Accuracy(integer, text, label);
        output.WriteLine($"SST-2 dev: PyTorch {torch:F2} %, engine FP32 {accFp32:F2} %, INT8 {accInt8:F2} %, INT8 integer-only {accInteger:F2} %; max |logit diff| vs PyTorch {worst:E2}");
        Assert.True(Math.Abs(accInteger - accFp32) <= 0.3, $"integer-only {accInteger:F2} % vs FP32 {accFp32:F2} %");
        // The engine tokenizes like Microsoft.ML.Tokenizers (whole-word truncation, symbols dropped); PyTorch used tokenizer.py.
        Assert.True(Math.Abs(accFp32 - torch) <= 0.5, $"engine FP32 {accFp32:F2} % vs PyTorch {torch:F2} %");
        Assert.True(Math.Abs(accInt8 - accFp32) <= 0.5, $"INT8 {accInt8:F2} % vs FP32 {accFp32:F2} %");
    }
}
