using System.Diagnostics;
using EdgeQuant.Tests;

namespace EdgeQuant.Cli.Tests;

/// <summary>End-to-end CLI runs: exit codes and messages for good and bad input.</summary>
public class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("eq-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "edgequant.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, err);
    }

    private string Convert(string asset, params string[] extra)
    {
        string o = Path.Combine(_dir, asset + ".eqm");
        var (code, _, err) = Cli(["convert", TestPaths.Asset(asset + ".onnx"), "-o", o, .. extra]);
        Assert.True(code == 0, err);
        return o;
    }

    private string Pnm(string name, int w, int h, int channels)
    {
        string p = Path.Combine(_dir, name);
        byte[] header = System.Text.Encoding.ASCII.GetBytes($"{(channels == 1 ? "P5" : "P6")}\n{w} {h}\n255\n");
        File.WriteAllBytes(p, [.. header, .. new byte[w * h * channels]]);
        return p;
    }

    [Fact]
    public void ConvertInfoRunSucceed()
    {
        string m = Convert("vit_meanpool", "--calib-random", "8", "--labels", "x,y,z");
        var (code, output, err) = Cli("info", m);
        Assert.True(code == 0, err);
        Assert.Contains("precision int8", output);
        Assert.Contains("blocks.0.qkv.rq", output);
        (code, output, err) = Cli("run", m, Pnm("ok.pgm", 8, 8, 1), "--top", "2");
        Assert.True(code == 0, err);
        Assert.Equal(2, output.Trim().Split('\n').Length);
    }

    [Fact]
    public void DecoderConvertInfoGeneratePerplexity()
    {
        string m = Path.Combine(_dir, "llama.eqm");
        var (code, output, err) = Cli("convert", "--hf", TestPaths.Asset("decoder/llama"), "-o", m, "--weight-bits", "4", "--group-size", "64");
        Assert.True(code == 0, err);
        (code, output, err) = Cli("info", m);
        Assert.True(code == 0, err);
        Assert.Contains("4-bit, one scale per channel and 64 inputs", output);
        Assert.Contains("blocks.1.down.q4", output);
        (code, output, err) = Cli("generate", m, "--ids", "5,6,7", "--max-tokens", "5", "--temperature", "0.8", "--seed", "3");
        Assert.True(code == 0, err);
        Assert.Equal(5, output.Trim().Split(',').Length);
        Assert.Contains("tokens/s", err);
        var again = Cli("generate", m, "--ids", "5,6,7", "--max-tokens", "5", "--temperature", "0.8", "--seed", "3");
        Assert.Equal(output, again.Out); // a seed gives the same tokens
        string ids = Path.Combine(_dir, "ids.txt");
        File.WriteAllText(ids, "5,6,7,8,9\n10,11,12\n");
        (code, output, err) = Cli("perplexity", m, "--ids-file", ids);
        Assert.True(code == 0, err);
        Assert.Contains("over 6 predicted tokens in 2 lines", output);
        (code, _, err) = Cli("generate", m, "--ids", "5,999999");
        Assert.Equal(1, code);
        Assert.Contains("outside the vocabulary", err);
        (code, _, err) = Cli("generate", m, "--ids", "5", "--top-p", "0");
        Assert.Equal(2, code);
        Assert.Contains("top-p 0 must be in (0, 1]", err);
        (code, _, err) = Cli("generate", m, "--ids", "5", "--max-tokens", "500", "--context", "64");
        Assert.Equal(1, code);
        Assert.Contains("exceed the context of 64 tokens", err);
    }

    [Fact]
    public void UsageErrorsExitWith2()
    {
        Assert.Equal(2, Cli().Code);
        Assert.Equal(2, Cli("frobnicate").Code);
        var (code, _, err) = Cli("convert", TestPaths.Asset("vit_meanpool.onnx"), "-o", Path.Combine(_dir, "x.eqm"), "--calib-random", "4", "--bogus", "1");
        Assert.Equal(2, code);
        Assert.Contains("--bogus", err);
        Assert.Equal(2, Cli("convert", TestPaths.Asset("vit_meanpool.onnx"), "-o", Path.Combine(_dir, "x.eqm")).Code); // int8 without calibration data
    }

    [Fact]
    public void TokenIdsAreParsedWithClearErrors()
    {
        string text = TestPaths.Asset(Path.Combine("zoo", "text_meanpool_proj_l2", "model.onnx"));
        string ids = Path.Combine(_dir, "ids.txt");
        File.WriteAllText(ids, "1,20,30,2\nabc\n");
        var (code, _, err) = Cli("convert", text, "-o", Path.Combine(_dir, "t.eqm"), "--calib-ids", ids);
        Assert.Equal(1, code);
        Assert.Contains("line 2", err);
        File.WriteAllText(ids, "1,20,30,2\n1,21,22,2\n");
        string model = Path.Combine(_dir, "t.eqm");
        Assert.True(Cli("convert", text, "-o", model, "--calib-ids", ids).Code == 0);
        foreach (string bad in (string[])["", ",", "abc", "1e30", "2147483648"])
        {
            (code, _, err) = Cli("run", model, "--ids", bad);
            Assert.Equal(2, code);
            Assert.Contains("--ids", err);
        }
        Assert.Equal(0, Cli("run", model, "--ids", "1,20,30,2").Code);
        // Invalid UTF-8 in argv arrives as U+FFFD: refused rather than tokenized as a guess.
        string bert = Path.Combine(_dir, "bert.eqm");
        Assert.Equal(0, Cli("convert", "--hf", TestPaths.Asset(Path.Combine("plm", "bert_cls")), "-o", bert, "--precision", "fp32").Code);
        (code, _, err) = Cli("run", bert, "--text", "a \uFFFD film");
        Assert.Equal(2, code);
        Assert.Contains("UTF-8", err);
    }

    [Fact]
    public void UnknownOnnxOpNamesTheNode()
    {
        var (code, _, err) = Cli("convert", TestPaths.Asset("unknown_op.onnx"), "-o", Path.Combine(_dir, "u.eqm"), "--precision", "fp32");
        Assert.Equal(1, code);
        Assert.Contains("weird_activation", err);
        Assert.Contains("Celu", err);
    }

    [Fact]
    public void CorruptedAndTruncatedModelsAreRejected()
    {
        string m = Convert("vit_meanpool", "--precision", "fp32");
        byte[] b = File.ReadAllBytes(m);
        string bad = Path.Combine(_dir, "bad.eqm");
        b[^100] ^= 0xFF;
        File.WriteAllBytes(bad, b);
        var (code, _, err) = Cli("info", bad);
        Assert.Equal(1, code);
        Assert.Contains("checksum", err);
        File.WriteAllBytes(bad, b[..(b.Length / 2)]);
        (code, _, err) = Cli("run", bad, Pnm("ok.pgm", 8, 8, 1));
        Assert.Equal(1, code);
        Assert.Contains("truncated", err);
        File.WriteAllText(bad, "hello");
        Assert.Equal(1, Cli("info", bad).Code);
    }

    [Fact]
    public void WrongImageSizeOrChannelsAreRejected()
    {
        string m = Convert("vit_meanpool", "--precision", "fp32");
        var (code, _, err) = Cli("run", m, Pnm("big.pgm", 28, 28, 1));
        Assert.Equal(1, code);
        Assert.Contains("expects 8x8", err);
        (code, _, err) = Cli("run", m, Pnm("rgb.ppm", 8, 8, 3));
        Assert.Equal(1, code);
        Assert.Contains("channel", err);
        string junk = Path.Combine(_dir, "junk.pgm");
        File.WriteAllText(junk, "P2 1 1 255 0");
        Assert.Equal(1, Cli("run", m, junk).Code);
    }
}
