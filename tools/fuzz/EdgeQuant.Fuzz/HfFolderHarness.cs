using EdgeQuant.Converter;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Engine;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The Hugging Face folder reader (config.json, model.safetensors, vocab.txt, tokenizer_config.json,
/// preprocessor_config.json) through the importer and the FP32 writer, then load and one run. Input: the five files
/// joined by <see cref="Harness.PartSeparator"/>; an empty or absent part is an absent file. Expected: <see cref="HfImportException"/>.
/// Findings as for <see cref="OnnxHarness"/>.
/// </summary>
public sealed class HfFolderHarness : Harness
{
    private static readonly string[] Files = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "preprocessor_config.json"];

    public override string Name => "hf";
    public override string Description => "HF folder: config, safetensors, vocab, tokenizer and preprocessor configs; FP32 write, load, one run";

    public override void Run(ReadOnlySpan<byte> input)
    {
        // The folder is reused between inputs (files rewritten or removed), not recreated: directory churn on every
        // execution would cost more than the import.
        _folder ??= Path.Combine(Scratch.Fresh(), "hf");
        Directory.CreateDirectory(_folder);
        var parts = SplitParts(input.ToArray(), Files.Length);
        for (int i = 0; i < Files.Length; i++)
        {
            string path = Path.Combine(_folder, Files[i]);
            if (i < parts.Count && !parts[i].IsEmpty) File.WriteAllBytes(path, parts[i].ToArray());
            else File.Delete(path);
        }
        FloatEncoder enc;
        try { enc = HfImporter.Import(_folder); }
        catch (HfImportException) { return; }
        ModelProbe.RunImported(() => Model.Load(enc.ToFp32Writer().ToArray()), "hf");
    }

    private string? _folder;

    public override void WriteSeeds(string repoRoot, string dir)
    {
        foreach (string name in SeedModels.HfSeeds)
        {
            string src = Path.Combine(repoRoot, "tests", "assets", "plm", name);
            var parts = Files.Select(f => Path.Combine(src, f)).Select(p => File.Exists(p) ? File.ReadAllBytes(p) : []).ToArray();
            File.WriteAllBytes(Path.Combine(dir, name + ".hf.fuzz"), JoinParts(parts));
        }
    }
}
