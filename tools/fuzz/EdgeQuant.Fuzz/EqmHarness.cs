using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The .eqm loader + session creation + one run. Input: one flags byte, then the file. Flag bit 0 recomputes every
/// CRC first (<see cref="ChecksumFixer"/>) so mutations reach the validation behind the checksums; without it the
/// checksum checks themselves are fuzzed. Expected: <see cref="ModelFormatException"/>. Findings: any other exception,
/// and an accepted file whose output has NaN or ±∞.
/// </summary>
public sealed class EqmHarness : Harness
{
    public override string Name => "eqm";
    public override string Description => ".eqm loader, session create, one run (CRC-fixing flag byte)";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        var file = input[1..].ToArray();
        if ((input[0] & 1) != 0) ChecksumFixer.Fix(file);
        Model model;
        try { model = Model.Load(file); }
        catch (ModelFormatException) { return; }
        using (model) ModelProbe.RunOnce(model, "eqm");
    }

    public override void WriteSeeds(string repoRoot, string dir)
    {
        foreach (var (name, bytes) in SeedModels.Eqm(repoRoot))
            File.WriteAllBytes(Path.Combine(dir, name + ".eqm.fuzz"), [1, .. bytes]);
    }
}
