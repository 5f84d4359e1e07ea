using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The .eqm loader + session creation + one run. Input: one flags byte, then the file. Flag bit 0 recomputes every
/// CRC first (<see cref="ChecksumFixer"/>) so mutations reach the validation behind the checksums; without it the
/// checksum checks themselves are fuzzed. Expected: <see cref="ModelFormatException"/> at load, or the run's
/// <see cref="ModelFormatError.NonFiniteOutput"/> refusal. Findings: any other exception, and an accepted file whose
/// output has NaN or ±∞.
/// </summary>
public sealed class EqmHarness : Harness
{
    /// <summary>What a file led to.</summary>
    public enum Outcome { RefusedAtLoad, RefusedAtRun, Accepted }

    public override string Name => "eqm";
    public override string Description => ".eqm loader, session create, one run (CRC-fixing flag byte)";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        var file = input[1..].ToArray();
        if ((input[0] & 1) != 0) ChecksumFixer.Fix(file);
        Classify(file);
    }

    /// <summary>Loads and runs <paramref name="file"/>; throws on a finding.</summary>
    public static Outcome Classify(byte[] file)
    {
        Model model;
        try { model = Model.Load(file); }
        catch (ModelFormatException) { return Outcome.RefusedAtLoad; }
        using (model) return ModelProbe.RunOnce(model, "eqm") ? Outcome.Accepted : Outcome.RefusedAtRun;
    }

    public override void WriteSeeds(string repoRoot, string dir)
    {
        foreach (var (name, bytes) in SeedModels.Eqm(repoRoot))
            File.WriteAllBytes(Path.Combine(dir, name + ".eqm.fuzz"), [1, .. bytes]);
    }
}
