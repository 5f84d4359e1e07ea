using System.Buffers.Binary;
using EdgeQuant.Native;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The C ABI entry points that take buffers, called through the exported function pointers exactly as a C host
/// calls them: eq_model_load_memory, eq_model_get_info, eq_session_create, then eq_session_run_u8 / run_f32 /
/// run_tokens / run_text / tokenize and eq_topk with fuzzed arguments. Input: flags byte, the .eqm (CRC-fixed when
/// bit 0 is set), separator, argument bytes. Findings: the internal-error status −99 (an exception the ABI did not
/// classify), a status outside the documented set, a NaN/∞ result from a call that returned 0, a crash.
/// </summary>
public sealed unsafe class CAbiHarness : Harness
{
    private const int Ok = 0, Internal = -99;

    public override string Name => "cabi";
    public override string Description => "C ABI: load from memory, info, session, run_u8/f32/tokens/text, tokenize, topk";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        var parts = SplitParts(input[1..].ToArray(), 2);
        var file = parts[0].ToArray();
        if ((input[0] & 1) != 0) ChecksumFixer.Fix(file);
        var args = parts.Count > 1 ? parts[1].ToArray() : [];
        nint model = 0, session = 0;
        fixed (byte* f = file)
            Check("eq_model_load_memory", ((delegate* unmanaged<byte*, nuint, nint*, int>)&Exports.ModelLoadMemory)(f, (nuint)file.Length, &model));
        if (model == 0) return;
        try
        {
            ModelInfo info = default;
            info.Size = (nuint)sizeof(ModelInfo);
            if (Check("eq_model_get_info", ((delegate* unmanaged<nint, ModelInfo*, int>)&Exports.ModelGetInfo)(model, &info)) != Ok)
                throw new FuzzFinding("eq_model_get_info failed on a loaded model");
            var opt = new SessionOptionsC { Size = (nuint)sizeof(SessionOptionsC), Threads = 1 + (input[0] >> 1 & 1) };
            if (Check("eq_session_create", ((delegate* unmanaged<nint, SessionOptionsC*, nint*, int>)&Exports.SessionCreate)(model, &opt, &session)) != Ok) return;
            int outLen = info.IsText != 0 && info.IsEmbedding != 0 ? 0 : info.NumClasses;
            var output = new float[Math.Max(outLen, 1) + 64]; // generous: the ABI is told the true capacity below
            int cap = (int)(BinaryPrimitives.ReadUInt16LittleEndian(Pad(args, 2)) % (output.Length + 1));
            fixed (float* o = output)
            fixed (byte* a = args)
            {
                var rest = args.AsSpan(Math.Min(2, args.Length));
                if (info.IsText == 0)
                {
                    int h = rest.Length > 0 ? rest[0] % 40 : 0, w = rest.Length > 1 ? rest[1] % 40 : 0, c = rest.Length > 2 ? rest[2] % 5 : 0;
                    var pixels = new byte[Math.Max(h * w * c, 1)];
                    var src = rest[Math.Min(3, rest.Length)..];
                    src[..Math.Min(src.Length, pixels.Length)].CopyTo(pixels);
                    fixed (byte* p = pixels)
                        Finite("eq_session_run_u8", ((delegate* unmanaged<nint, byte*, int, int, int, float*, nuint, int>)&Exports.SessionRunU8)(session, p, h, w, c, o, (nuint)cap), output, cap);
                    var floats = new float[info.Channels * info.Height * info.Width];
                    for (int i = 0; i < floats.Length && i < rest.Length; i++) floats[i] = (rest[i] - 128) / 64f;
                    fixed (float* x = floats)
                        Finite("eq_session_run_f32", ((delegate* unmanaged<nint, float*, nuint, float*, nuint, int>)&Exports.SessionRunF32)(session, x, (nuint)floats.Length, o, (nuint)cap), output, cap);
                }
                else
                {
                    int n = Math.Max(1, rest.Length / 4), len = 1 + (args.Length > 0 ? args[0] % 8 : 0), batch = Math.Max(1, n / len);
                    var ids = new int[batch * len];
                    var mask = new int[ids.Length];
                    for (int i = 0; i < ids.Length; i++)
                    {
                        int v = i * 4 + 4 <= rest.Length ? BinaryPrimitives.ReadInt32LittleEndian(rest[(i * 4)..]) : i;
                        (ids[i], mask[i]) = ((v & 0x40000000) != 0 ? v : v & 0x3F, (v >> 8 & 3) == 0 ? 0 : 1);
                    }
                    var big = new float[(long)batch * Math.Max(info.IsEmbedding != 0 ? 4096 : info.NumClasses, 1) + 64];
                    fixed (int* id = ids)
                    fixed (int* m = mask)
                    fixed (float* b = big)
                        Finite("eq_session_run_tokens", ((delegate* unmanaged<nint, int*, int*, int*, int, int, float*, nuint, int>)&Exports.SessionRunTokens)(session, id, m, null, batch, len, b, (nuint)big.Length), big, big.Length);
                    var text = new byte[rest.Length + 1]; // NUL-terminated
                    rest.CopyTo(text);
                    int tokens = 0, count = 0;
                    var tok = new int[2 + cap];
                    fixed (byte* t = text)
                    fixed (int* ti = tok)
                    fixed (float* b = big)
                    {
                        Finite("eq_session_run_text", ((delegate* unmanaged<nint, byte*, float*, nuint, int*, int>)&Exports.SessionRunText)(session, t, b, (nuint)big.Length, &tokens), big, big.Length);
                        Check("eq_session_tokenize", ((delegate* unmanaged<nint, byte*, int*, nuint, int*, int>)&Exports.SessionTokenize)(session, t, ti, (nuint)tok.Length, &count));
                    }
                }
                int k = args.Length > 1 ? args[1] % 12 - 1 : 1;
                var idx = new int[Math.Max(k, 0) + 1];
                var prob = new float[idx.Length];
                fixed (int* ix = idx)
                fixed (float* pr = prob)
                    Check("eq_topk", ((delegate* unmanaged<float*, nuint, int, int*, float*, int>)&Exports.TopK)(o, (nuint)cap, k, ix, pr));
            }
        }
        finally
        {
            if (session != 0) Check("eq_session_destroy", ((delegate* unmanaged<nint, int>)&Exports.SessionDestroy)(session));
            if (Check("eq_model_destroy", ((delegate* unmanaged<nint, int>)&Exports.ModelDestroy)(model)) != Ok) throw new FuzzFinding("eq_model_destroy failed after its session was destroyed");
        }
    }

    private static byte[] Pad(byte[] a, int n) => a.Length >= n ? a : [.. a, .. new byte[n - a.Length]];

    private static int Check(string fn, int status)
    {
        if (status == Internal)
            throw new FuzzFinding($"{fn} returned the internal-error status: {System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastError)())}");
        if (status is not (0 or -1 or -2 or -3 or -4 or -5)) throw new FuzzFinding($"{fn} returned {status}, not a documented status");
        return status;
    }

    private static void Finite(string fn, int status, float[] output, int count)
    {
        if (Check(fn, status) != Ok) return;
        for (int i = 0; i < count && i < output.Length; i++)
            if (!float.IsFinite(output[i])) throw new FuzzFinding($"{fn} returned 0 with output[{i}] = {output[i]}");
    }

    public override void WriteSeeds(string repoRoot, string dir)
    {
        int i = 0;
        foreach (var (name, bytes) in SeedModels.Eqm(repoRoot))
        {
            byte[] args = name.Contains("text") ? "\u0003\u0005héllo wörld, 字 😀 unbelievable"u8.ToArray() : [4, 3, 28, 28, 1, .. Enumerable.Range(0, 64).Select(b => (byte)(b * 5))];
            File.WriteAllBytes(Path.Combine(dir, $"{name}.cabi.fuzz"), [(byte)(1 | (i++ & 1) << 1), .. JoinParts(bytes, args)]);
        }
    }
}
