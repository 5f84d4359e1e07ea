using EdgeQuant.Converter.Data;
using EdgeQuant.Engine;
using EdgeQuant.Format;
using EdgeQuant.Tests;

namespace EdgeQuant.Converter.Tests;

/// <summary>The one conversion entry point (<see cref="ModelConverter"/>) as an API: image and text requests, and the request errors it names.</summary>
public sealed class ModelConverterTests : TempFolder
{
    [Fact]
    public void ImageAndTextRequestsWriteLoadableModels()
    {
        string img = Path.Combine(Dir, "img.eqm");
        var result = ModelConverter.Convert(new ConvertRequest { OnnxPath = TestPaths.Asset("zoo/unfold_meanpool.onnx"), OutputPath = img, CalibRandom = 8 });
        Assert.Equal(new FileInfo(img).Length, result.Bytes);
        Assert.NotNull(result.Encoder!.Plan);
        Assert.Null(result.Decoder);
        using (var m = Model.Load(img)) Assert.True(m.IsQuantized);

        string txt = Path.Combine(Dir, "txt.eqm");
        var ids = new List<int[]> { new[] { 1, 20, 30, 2 }, new[] { 1, 21, 22, 23, 24, 2 } };
        ModelConverter.Convert(new ConvertRequest { OnnxPath = TestPaths.Asset("zoo/text_meanpool_proj_l2/model.onnx"), OutputPath = txt, CalibIds = ids });
        using var t = Model.Load(txt);
        Assert.Equal(Schema.TextHeads.Plan, t.Text!.Head);
    }

    [Fact]
    public void BadRequestsAreNamed()
    {
        string o = Path.Combine(Dir, "x.eqm");
        Assert.Contains("either an ONNX file or a Hugging Face folder", Assert.Throws<ArgumentException>(() => ModelConverter.Convert(new ConvertRequest { OutputPath = o })).Message);
        Assert.Contains("calibration images", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { OnnxPath = TestPaths.Asset("vit_meanpool.onnx"), OutputPath = o })).Message);
        Assert.Contains("labels given", Assert.ThrowsAny<Exception>(() => // the ViT importer checks labels itself
            ModelConverter.Convert(new ConvertRequest { OnnxPath = TestPaths.Asset("vit_meanpool.onnx"), OutputPath = o, Precision = Schema.Precisions.Fp32, Labels = ["a"] })).Message);
        string text = TestPaths.Asset("zoo/text_meanpool_proj_l2/model.onnx");
        Assert.Contains("no WordPiece vocabulary", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { OnnxPath = text, OutputPath = o, CalibSentences = ["a film"] })).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { OnnxPath = text, OutputPath = o, CalibIds = [[1, 100000]] })).Message);
        Assert.Contains("takes 1 to", Assert.Throws<ArgumentException>(() =>
            ModelConverter.Convert(new ConvertRequest { OnnxPath = text, OutputPath = o, CalibIds = [new int[1000]] })).Message);
        Assert.False(File.Exists(o));
    }

    [Fact]
    public void TokenIdTextIsParsedStrictly()
    {
        Assert.Equal([101, 2023, 102], TokenIds.Parse(" 101, 2023 ,102", "x"));
        foreach (string bad in (string[])["", ",", "abc", "1e30", "2147483648", "-1", "1,,2"])
            Assert.Throws<FormatException>(() => TokenIds.Parse(bad, "x"));
    }
}
