using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Tests;
using Xunit.Abstractions;

namespace EdgeQuant.Converter.Tests;

/// <summary>The accuracy targets of the walking skeleton, measured on the real data sets.</summary>
public class AccuracyTests(ITestOutputHelper output)
{
    internal static (int Correct, int Count) Accuracy(byte[] modelBytes, float[][] images, int[] labels, int start, int end)
    {
        using var m = Model.Load(modelBytes);
        using var s = m.CreateSession();
        var y = new float[m.OutputLength];
        int correct = 0;
        for (int i = start; i < end; i++)
        {
            s.Run(images[i], y);
            int best = 0;
            for (int j = 1; j < y.Length; j++) if (y[j] > y[best]) best = j;
            if (best == labels[i]) correct++;
        }
        return (correct, end - start);
    }

    [Fact]
    public void VitMnistInt8KeepsAccuracy()
    {
        var (x, l) = Idx.Load(TestPaths.Shared("data/mnist/t10k-images-idx3-ubyte"), TestPaths.Shared("data/mnist/t10k-labels-idx1-ubyte"));
        var enc = OnnxVitImporter.Import(TestPaths.Shared("models/vit-mnist/vit-mnist.onnx"));
        byte[] fp32 = enc.ToFp32Writer().ToArray();
        byte[] int8 = EncoderQuantizer.Quantize(enc, x[9000..10000], new PtqOptions()).ToArray(); // calibrate on 9000..9999 only
        var f = Accuracy(fp32, x, l, 0, 10000);
        var q = Accuracy(int8, x, l, 0, 10000);
        var qHeld = Accuracy(int8, x, l, 0, 9000);
        output.WriteLine($"vit-mnist FP32 {100.0 * f.Correct / f.Count:F2} %, INT8 {100.0 * q.Correct / q.Count:F2} % (all 10k), INT8 {100.0 * qHeld.Correct / qHeld.Count:F2} % (0..8999)");
        Assert.Equal(9773, f.Correct);          // the published FP32 figure, 97.73 %
        Assert.True(q.Correct >= 9740, $"INT8 top-1 {q.Correct / 100.0} % < 97.4 %");
    }

    [Fact]
    public void FashionVitInt8WithinHalfAPointOfFp32()
    {
        var (train, _) = Idx.Load($"{Idx.FashionDir}/train-images-idx3-ubyte.gz", $"{Idx.FashionDir}/train-labels-idx1-ubyte.gz");
        var (x, l) = Idx.Load($"{Idx.FashionDir}/t10k-images-idx3-ubyte.gz", $"{Idx.FashionDir}/t10k-labels-idx1-ubyte.gz");
        var enc = OnnxVitImporter.Import(Path.Combine(TestPaths.RepoRoot, "tools/modelzoo/fashion-vit/model.onnx"));
        var f = Accuracy(enc.ToFp32Writer().ToArray(), x, l, 0, x.Length);
        var q = Accuracy(EncoderQuantizer.Quantize(enc, train[..1000], new PtqOptions()).ToArray(), x, l, 0, x.Length);
        output.WriteLine($"fashion-vit FP32 {100.0 * f.Correct / f.Count:F2} %, INT8 {100.0 * q.Correct / q.Count:F2} %");
        Assert.Equal(8866, f.Correct);          // the model card's torch figure, 88.66 %
        Assert.True(Math.Abs(q.Correct - f.Correct) <= 50, $"INT8 {q.Correct} vs FP32 {f.Correct} correct");
    }

    [Fact]
    public void FashionVitFp32MatchesTorchReferenceLogits()
    {
        var enc = OnnxVitImporter.Import(Path.Combine(TestPaths.RepoRoot, "tools/modelzoo/fashion-vit/model.onnx"));
        float[] reference = Npy.ReadFloat32(Path.Combine(TestPaths.RepoRoot, "tools/modelzoo/fashion-vit/ref_logits_64.npy")); // [64, 10]
        var (x, _) = Idx.Load($"{Idx.FashionDir}/t10k-images-idx3-ubyte.gz", $"{Idx.FashionDir}/t10k-labels-idx1-ubyte.gz");
        using var m = Model.Load(enc.ToFp32Writer().ToArray());
        using var s = m.CreateSession();
        var y = new float[64 * 10];
        s.Run(x[..64].SelectMany(v => v).ToArray(), y);
        float worst = 0;
        for (int i = 0; i < y.Length; i++) worst = Math.Max(worst, Math.Abs(y[i] - reference[i]));
        output.WriteLine($"max abs diff vs torch: {worst:E2}");
        Assert.True(worst <= 1e-4f, $"max abs diff {worst}");
    }
}

/// <summary>Reader for little-endian float32 .npy files (C order).</summary>
internal static class Npy
{
    public static float[] ReadFloat32(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        int headerLen = b[8] | b[9] << 8;
        string header = System.Text.Encoding.ASCII.GetString(b, 10, headerLen);
        if (!header.Contains("'<f4'") || header.Contains("'fortran_order': True")) throw new InvalidDataException($"{path}: expected little-endian float32 C-order .npy");
        int start = 10 + headerLen;
        var f = new float[(b.Length - start) / 4];
        Buffer.BlockCopy(b, start, f, 0, f.Length * 4);
        return f;
    }
}
