using System.Text.Json.Nodes;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Tests;

namespace EdgeQuant.Converter.Tests;

/// <summary>Importer inputs that used to crash or convert silently (#17.3): each is an error naming the problem.</summary>
public sealed class HostileImportTests : TempFolder
{
    [Fact]
    public void GzipBombsAndBrokenGzipAreRefusedAsTheyStream()
    {
        // 4 MiB of zeros compress to ~4 KiB: with a 1 MiB bound the reader must stop at the bound, not inflate it all.
        string bomb = Path.Combine(Dir, "bomb.idx.gz");
        using (var gz = new System.IO.Compression.GZipStream(File.Create(bomb), System.IO.Compression.CompressionLevel.SmallestSize))
            gz.Write(new byte[4 << 20]);
        Assert.True(new FileInfo(bomb).Length < 64 << 10);
        Assert.Contains("decompresses to more than 1048576 bytes", Assert.Throws<InvalidDataException>(() => Converter.Data.ImageSources.ReadMaybeGzip(bomb, 1 << 20)).Message);
        Assert.Equal(4 << 20, Converter.Data.ImageSources.ReadMaybeGzip(bomb).Length);
        string broken = Path.Combine(Dir, "broken.idx.gz");
        File.WriteAllBytes(broken, [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF]);
        Assert.Contains("not a valid gzip file", Assert.Throws<InvalidDataException>(() => Converter.Data.ImageSources.ReadMaybeGzip(broken)).Message);
    }

    [Fact]
    public void HostileOnnxGraphsAreNamedErrors()
    {
        var e = Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import(TestPaths.Asset("hostile/huge_input_dim.onnx")));
        Assert.Contains("2147483647", e.Message);
        e = Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import(TestPaths.Asset("hostile/dup_output.onnx")));
        Assert.Contains("relu_again", e.Message);
        Assert.Contains("already defined", e.Message);
    }

    [Fact]
    public void DevicesAndPipesAreRefusedBeforeReading()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.Contains("not a regular file", Assert.Throws<OnnxImportException>(() => OnnxVitImporter.Import("/dev/zero")).Message);
        string folder = CopyBert();
        File.Delete(Path.Combine(folder, "model.safetensors"));
        File.CreateSymbolicLink(Path.Combine(folder, "model.safetensors"), "/dev/zero");
        Assert.Contains("not a regular file", Assert.Throws<HfImportException>(() => HfImporter.Import(folder)).Message);
    }

    [Theory]
    [InlineData("num_attention_heads", "0", "num_attention_heads")]
    [InlineData("hidden_size", "1000000000", "hidden_size")]
    [InlineData("layer_norm_eps", "-1", "layer_norm_eps")]
    [InlineData("vocab_size", "1", "vocab_size")]
    public void HostileConfigValuesAreNamed(string key, string value, string named)
    {
        string folder = CopyBert();
        string cfgPath = Path.Combine(folder, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
        cfg[key] = JsonNode.Parse(value);
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        Assert.Contains(named, Assert.Throws<HfImportException>(() => HfImporter.Import(folder)).Message);
    }

    [Fact]
    public void NegativeLabelIdsAndTinyVocabulariesAreNamed()
    {
        string folder = CopyBert();
        string cfgPath = Path.Combine(folder, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
        cfg["id2label"] = new JsonObject { ["-1"] = "bad", ["0"] = "a" };
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        Assert.Contains("id2label", Assert.Throws<HfImportException>(() => HfImporter.Import(folder)).Message);

        foreach (string vocab in (string[])["", "[UNK]\n"])
        {
            folder = CopyBert();
            File.WriteAllText(Path.Combine(folder, "vocab.txt"), vocab);
            Assert.Contains("vocabulary", Assert.Throws<HfImportException>(() => HfImporter.Import(folder)).Message);
        }
    }

    private string CopyBert()
    {
        string dst = Path.Combine(Dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dst);
        foreach (string f in Directory.GetFiles(TestPaths.Asset("plm/bert_cls"))) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }
}
