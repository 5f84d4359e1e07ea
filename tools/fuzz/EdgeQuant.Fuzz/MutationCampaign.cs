using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The hostile-file mutation campaign (not coverage-guided; complements AFL++): valid .eqm files from
/// <see cref="SeedModels"/> edited the way a hostile writer would — metadata numbers replaced by extreme values,
/// float weights set to NaN/±∞/huge/denormal, integer tensors (requantization multipliers, shifts, biases) set to
/// extremes, tensor-table fields (dims, offsets, sizes) rewritten, random bytes — every CRC then recomputed, each file
/// loaded and run once. Tallies refused-at-load, refused-at-run, accepted with finite output; anything else
/// (crash, unexpected exception, accepted with non-finite output) is a finding, saved for replay.
/// </summary>
public static class MutationCampaign
{
    private static readonly string[] HostileNumbers = ["0", "-1", "1E+400", "2147483647", "2147483584", "-2147483648", "1e38", "-1e38", "1e-45", "4096", "65537", "3", "9"];
    private static readonly float[] HostileFloats = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e38f, -3e38f, 0f, 1e-40f, 65504f];
    private static readonly int[] HostileInts = [int.MinValue, int.MaxValue, 0, -1, 1, 1 << 30, 63, 64, -64];

    /// <summary>Runs <paramref name="count"/> mutated files; returns the number of findings.</summary>
    public static int Run(string repoRoot, int count, int seed, string findingsDir)
    {
        var seeds = SeedModels.Eqm(repoRoot).ToArray();
        var rng = new Random(seed);
        long load = 0, run = 0, ok = 0, findings = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            var (name, good) = seeds[i % seeds.Length];
            var file = (byte[])good.Clone();
            int edits = 1 + rng.Next(3);
            for (int e = 0; e < edits; e++) Mutate(file, rng);
            ChecksumFixer.Fix(file);
            try
            {
                switch (EqmHarness.Classify(file))
                {
                    case EqmHarness.Outcome.RefusedAtLoad: load++; break;
                    case EqmHarness.Outcome.RefusedAtRun: run++; break;
                    default: ok++; break;
                }
            }
            catch (Exception ex)
            {
                findings++;
                Directory.CreateDirectory(findingsDir);
                string path = Path.Combine(findingsDir, $"mutate-{seed}-{i}-{name}.eqm.fuzz");
                File.WriteAllBytes(path, [1, .. file]);
                Console.WriteLine($"FINDING {path}: {ex.GetType().Name}: {ex.Message}");
            }
            if ((i + 1) % 50000 == 0) Console.Error.WriteLine($"  {i + 1} files, {sw.Elapsed.TotalSeconds:F0} s");
        }
        Console.WriteLine($"mutation campaign: {count} files from {seeds.Length} seeds ({string.Join(", ", seeds.Select(s => s.Name))}), seed {seed}, {sw.Elapsed.TotalSeconds:F0} s");
        Console.WriteLine($"  refused at load {load}, refused at run (non-finite output) {run}, accepted with finite output {ok}, findings {findings}");
        return (int)findings;
    }

    private static void Mutate(byte[] f, Random rng)
    {
        using var m = TryOpen(f);
        switch (m == null ? 4 : rng.Next(5))
        {
            case 0: MetadataNumber(f, rng); break;
            case 1: TensorValue(f, m!, rng, isFloat: true); break;
            case 2: TensorValue(f, m!, rng, isFloat: false); break;
            case 3: TableField(f, m!, rng); break;
            default:
                for (int k = 1 + rng.Next(8); k > 0; k--) f[rng.Next(f.Length)] = (byte)rng.Next(256);
                break;
        }
    }

    private static ModelFile? TryOpen(byte[] f)
    {
        try { return ModelFile.FromMemory(f, verifyData: false); }
        catch (ModelFormatException) { return null; }
    }

    private static void MetadataNumber(byte[] f, Random rng)
    {
        int off = (int)BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(32)), size = (int)BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(40));
        var json = f.AsSpan(off, size);
        var numbers = new List<(int At, int Len)>();
        for (int i = 0; i < json.Length; i++)
        {
            if (!(json[i] is (byte)'-' or >= (byte)'0' and <= (byte)'9') || i > 0 && json[i - 1] is (byte)'"' or >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'-' or (byte)'+') continue;
            int j = i + 1;
            while (j < json.Length && json[j] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'-' or (byte)'+') j++;
            numbers.Add((i, j - i));
            i = j;
        }
        if (numbers.Count == 0) return;
        var (at, len) = numbers[rng.Next(numbers.Count)];
        var fits = HostileNumbers.Where(v => v.Length <= len).ToArray();
        if (fits.Length == 0) return;
        Encoding.ASCII.GetBytes(fits[rng.Next(fits.Length)].PadRight(len)).CopyTo(json[at..]); // JSON allows the trailing spaces
    }

    private static void TensorValue(byte[] f, ModelFile m, Random rng, bool isFloat)
    {
        var pick = m.Tensors.Where(t => isFloat ? t.DType == TensorDType.F32 : t.DType is TensorDType.S32 or TensorDType.S8 or TensorDType.S16).ToArray();
        if (pick.Length == 0) return;
        var t = pick[rng.Next(pick.Length)];
        int es = t.DType.ElementSize(), at = (int)t.Offset + rng.Next((int)(t.Size / es)) * es;
        if (isFloat) BinaryPrimitives.WriteSingleLittleEndian(f.AsSpan(at), HostileFloats[rng.Next(HostileFloats.Length)]);
        else
        {
            int v = HostileInts[rng.Next(HostileInts.Length)];
            if (es == 4) BinaryPrimitives.WriteInt32LittleEndian(f.AsSpan(at), v);
            else if (es == 2) BinaryPrimitives.WriteInt16LittleEndian(f.AsSpan(at), (short)v);
            else f[at] = (byte)v;
        }
    }

    private static void TableField(byte[] f, ModelFile m, Random rng)
    {
        int entry = (int)BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(48)) + rng.Next(m.Tensors.Count) * ModelFileLayout.TensorEntrySize;
        int field = rng.Next(4);
        int at = entry + field switch { 0 => 68 + 4 * rng.Next(ModelFileLayout.MaxRank), 1 => 96, 2 => 104, _ => 64 + rng.Next(3) };
        ulong v = rng.Next(4) switch { 0 => 0, 1 => (ulong)rng.NextInt64(), 2 => uint.MaxValue, _ => (ulong)rng.Next(1, 4096) * 64 };
        if (field == 0) BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(at), (uint)v);
        else if (field == 3) f[at] = (byte)v;
        else BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(at), v);
    }
}
