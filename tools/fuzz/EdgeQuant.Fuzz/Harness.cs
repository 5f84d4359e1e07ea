namespace EdgeQuant.Fuzz;

/// <summary>
/// One fuzz target: takes the fuzzer's bytes, feeds them to an input surface of the engine or converter, and throws
/// <see cref="FuzzFinding"/> (or lets any unexpected exception escape) when the code under test misbehaves. Expected
/// refusals — the documented exception type with a message — are swallowed: they are the correct answer to bad input.
/// </summary>
public abstract class Harness
{
    /// <summary>Name on the command line and the corpus folder's name.</summary>
    public abstract string Name { get; }

    /// <summary>One line on what the harness feeds and what it asserts.</summary>
    public abstract string Description { get; }

    /// <summary>Runs one input. Throws on a finding.</summary>
    public abstract void Run(ReadOnlySpan<byte> input);

    /// <summary>Writes the seed corpus (small valid inputs derived from the test assets) into <paramref name="dir"/>.</summary>
    public abstract void WriteSeeds(string repoRoot, string dir);

    /// <summary>Every harness, in the order the campaign runs them.</summary>
    public static readonly Harness[] All = [new EqmHarness(), new OnnxHarness(), new HfFolderHarness(), new TokenizerHarness(), new CAbiHarness()];

    /// <summary>The harness called <paramref name="name"/>, or an error listing the names.</summary>
    public static Harness Find(string name) => Array.Find(All, h => h.Name == name)
        ?? throw new ArgumentException($"no harness '{name}'; harnesses: {string.Join(", ", All.Select(h => h.Name))}");

    /// <summary>Splits a multi-part input at <see cref="PartSeparator"/> (parts that are files of a folder, or vocab + text).</summary>
    public static List<ReadOnlyMemory<byte>> SplitParts(ReadOnlyMemory<byte> input, int maxParts)
    {
        var parts = new List<ReadOnlyMemory<byte>>();
        while (parts.Count < maxParts - 1)
        {
            int at = input.Span.IndexOf(PartSeparator);
            if (at < 0) break;
            parts.Add(input[..at]);
            input = input[(at + PartSeparator.Length)..];
        }
        parts.Add(input);
        return parts;
    }

    /// <summary>Joins parts with <see cref="PartSeparator"/> (seed writing).</summary>
    public static byte[] JoinParts(params byte[][] parts)
    {
        var ms = new MemoryStream();
        for (int i = 0; i < parts.Length; i++)
        {
            if (i > 0) ms.Write(PartSeparator);
            ms.Write(parts[i]);
        }
        return ms.ToArray();
    }

    /// <summary>Separator of multi-part inputs: unlikely inside JSON, vocab text or tensor data by chance.</summary>
    public static ReadOnlySpan<byte> PartSeparator => "\n\0EQFUZZ\0\n"u8;
}

/// <summary>A misbehaviour the harness detected itself (wrong output, accepted garbage), as opposed to a crash.</summary>
public sealed class FuzzFinding(string message) : Exception(message);
