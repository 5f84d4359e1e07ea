// Decoder-LLM speed peer: EdgeQuant (DecoderModel, .eqm) vs llama.cpp (LLamaSharp 0.30.0 CPU backend, .gguf) on the
// same random weights, the same prompt token ids and the same thread counts, in one invocation.
//
//   OMP_WAIT_POLICY=PASSIVE dotnet run -c Release --project tools/bench/EdgeQuant.LlmBench -- \
//       --eqm A.eqm[,B.eqm] --gguf X.gguf[,Y.gguf] --threads 1,2 --prompt-tokens 128 --gen-tokens 64 --repeats 3
//
// The i-th .eqm is compared with the i-th .gguf (a list of one is paired with every entry of the other; either list may
// be omitted). Per model pair and thread count, both engines are loaded in this process and the repeats alternate
// between them (the order flips every repeat); the table shows medians of prefill tok/s (the N-token prompt as one
// batch) and decode tok/s (G greedy single-token steps after it; argmax over the logits done here for both engines).
// Peak RSS and load time come from a child process per engine and model (this program with --child), so that one
// engine's memory does not hide in the other's VmHWM: the child loads the model (timed), runs one prefill + decode at
// the largest thread count and reports /proc/self/status VmHWM (file-backed mmap pages it touched included).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using EdgeQuant.Engine.Decoder;
using LLama;
using LLama.Common;
using LLama.Native;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
Bench.PassiveOpenMp();
return args.Length > 0 && args[0] == "--child" ? Bench.Child(args[1..]) : Bench.Run(args);

internal static partial class Bench
{
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    /// <summary>ggml's OpenMP threads must not spin between ops (EdgeQuant's workers park too). Set before libgomp
    /// loads; .NET's Environment.SetEnvironmentVariable does not reach native getenv on Linux, hence setenv.</summary>
    public static void PassiveOpenMp()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 }) return; // the caller's choice wins
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) SetEnv("OMP_WAIT_POLICY", "PASSIVE", 1);
    }

    private static bool _nativeConfigured;

    /// <summary>llama.cpp's log: warnings and errors only (everything with --verbose). LLamaSharp's default policy picks the
    /// highest AVX variant the CPU supports (avx512 > avx2 > avx > noavx); LoadedNative() reports and checks its choice.
    /// (Forcing it with WithAvx(..).WithAutoFallback(false) made 0.30.0 fail to load any library here.) Must run before
    /// the first LLamaSharp native call.</summary>
    private static void ConfigureLlama(bool verbose)
    {
        if (_nativeConfigured) return;
        _nativeConfigured = true;
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (verbose || level is LLamaLogLevel.Warning or LLamaLogLevel.Error) Console.Error.Write("[llama.cpp] " + message);
        });
    }

    /// <summary>The AVX level LLamaSharp picked, and the libllama.so file actually mapped into this process.</summary>
    private static string LoadedNative()
    {
        var best = Avx512F.IsSupported ? AvxLevel.Avx512 : Avx2.IsSupported ? AvxLevel.Avx2 : Avx.IsSupported ? AvxLevel.Avx : AvxLevel.None;
        var meta = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama)?.Metadata;
        string? file = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && f[5].EndsWith("/libllama.so", StringComparison.Ordinal)).Select(f => f[5]).FirstOrDefault();
        string warn = meta == null || meta.AvxLevel != best ? $" WARNING: the CPU supports {best}" : "";
        return $"{meta?.ToString() ?? "unknown"}; {file ?? "libllama.so not mapped"}{warn}";
    }

    public static int Run(string[] args)
    {
        var eqm = new List<string>();
        var gguf = new List<string>();
        int[] threads = [1];
        int n = 128, g = 64, repeats = 3, seed = 1234;
        bool verbose = false, rss = true;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--eqm": eqm.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
                case "--gguf": gguf.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
                case "--threads": threads = [.. Next().Split(',').Select(int.Parse)]; break;
                case "--prompt-tokens": n = int.Parse(Next()); break;
                case "--gen-tokens": g = int.Parse(Next()); break;
                case "--repeats": repeats = int.Parse(Next()); break;
                case "--seed": seed = int.Parse(Next()); break;
                case "--no-rss": rss = false; break;
                case "--verbose": verbose = true; break;
                default: return Usage($"unknown argument {args[i]}");
            }
        }
        if (eqm.Count + gguf.Count == 0) return Usage("give --eqm and/or --gguf");
        if (eqm.Count > 1 && gguf.Count > 1 && eqm.Count != gguf.Count) return Usage("--eqm and --gguf lists differ in length");
        if (n < 1 || g < 1 || repeats < 1 || threads.Any(t => t < 1)) return Usage("counts must be positive");
        int pairs = Math.Max(eqm.Count, gguf.Count);

        ConfigureLlama(verbose);
        NativeApi.llama_empty_call(); // loads the natives now, so that the header can say which
        Console.WriteLine($"cpu: {CpuModel()}, {Environment.ProcessorCount} logical cores; OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")}");
        Console.WriteLine($"llama.cpp native: {LoadedNative()}");
        Console.WriteLine($"llama.cpp system_info: {Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info())}");
        Console.WriteLine($"prompt {n} tokens, decode {g} tokens, repeats {repeats} (alternating engines), threads {string.Join(",", threads)}, seed {seed}");

        var rows = new List<string[]>();
        for (int p = 0; p < pairs; p++)
        {
            string? e = eqm.Count == 0 ? null : eqm[Math.Min(p, eqm.Count - 1)];
            string? q = gguf.Count == 0 ? null : gguf[Math.Min(p, gguf.Count - 1)];
            var mem = new Dictionary<string, (double LoadMs, double RssMb)>();
            if (rss)
            {
                if (e != null) mem[e] = ChildRss("eq", e, threads.Max(), n, g);
                if (q != null) mem[q] = ChildRss("ll", q, threads.Max(), n, g);
            }
            var runners = new List<IRunner>();
            try
            {
                if (e != null) runners.Add(new EdgeQuantRunner(e));
                if (q != null) runners.Add(new LlamaRunner(q, n + g + 8));
                int vocab = runners[0].Vocab;
                if (runners.Any(r => r.Vocab != vocab)) throw new InvalidOperationException($"vocab sizes differ: {string.Join(" vs ", runners.Select(r => r.Vocab))}");
                var rng = new Random(seed);
                int[] prompt = [.. Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab))];
                foreach (int t in threads)
                {
                    foreach (var r in runners) r.Open(t, n + g + 8);
                    var pre = runners.Select(_ => new List<double>()).ToArray();
                    var dec = runners.Select(_ => new List<double>()).ToArray();
                    var tokens = new int[runners.Count][];
                    for (int k = 0; k < runners.Count; k++) tokens[k] = Measure(runners[k], prompt, g).Tokens; // warm-up
                    for (int rep = 0; rep < repeats; rep++)
                        for (int j = 0; j < runners.Count; j++)
                        {
                            int k = rep % 2 == 0 ? j : runners.Count - 1 - j;
                            var m = Measure(runners[k], prompt, g);
                            pre[k].Add(n / m.PrefillS);
                            dec[k].Add(g / m.DecodeS);
                        }
                    string agree = runners.Count == 2
                        ? $"{tokens[0].Zip(tokens[1]).TakeWhile(x => x.First == x.Second).Count()}/{g + 1}" : "-";
                    for (int k = 0; k < runners.Count; k++)
                    {
                        var r = runners[k];
                        mem.TryGetValue(r.Path, out var mm);
                        rows.Add([Path.GetFileName(r.Path), r.Engine, t.ToString(), $"{Median(pre[k]):F1}", $"{Median(dec[k]):F2}",
                            $"{r.LoadMs:F0}", rss ? $"{mm.LoadMs:F0}" : "-", rss ? $"{mm.RssMb:F0}" : "-", agree]);
                    }
                    foreach (var r in runners) r.Close();
                }
            }
            finally
            {
                foreach (var r in runners) r.Dispose();
            }
        }
        PrintTable(["model", "engine", "thr", "prefill tok/s", "decode tok/s", "load ms", "child load ms", "peak RSS MB", "greedy agree"], rows);
        Console.WriteLine("medians over repeats; peak RSS = VmHWM of a child that loads the model and runs one prefill+decode at the largest thread count;");
        Console.WriteLine("'greedy agree' = leading greedy tokens (prefill argmax + decode steps) identical between the two engines (warm-up run).");
        return 0;
    }

    /// <summary>--child eq|ll PATH THREADS N G: load (timed), one prefill + decode, print load ms and VmHWM.</summary>
    public static int Child(string[] a)
    {
        int t = int.Parse(a[2]), n = int.Parse(a[3]), g = int.Parse(a[4]);
        if (a[0] == "ll") ConfigureLlama(false);
        using IRunner r = a[0] == "eq" ? new EdgeQuantRunner(a[1]) : new LlamaRunner(a[1], n + g + 8);
        r.Open(t, n + g + 8);
        var rng = new Random(1);
        Measure(r, [.. Enumerable.Range(0, n).Select(_ => rng.Next(3, r.Vocab))], g);
        r.Close();
        Console.WriteLine($"CHILD {r.LoadMs.ToString("F1", CultureInfo.InvariantCulture)} {PeakRssMb().ToString("F1", CultureInfo.InvariantCulture)}");
        return 0;
    }

    private static (double LoadMs, double RssMb) ChildRss(string engine, string path, int threads, int n, int g)
    {
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Bench).Assembly.Location);
        foreach (string s in new[] { "--child", engine, path, threads.ToString(), n.ToString(), g.ToString() }) psi.ArgumentList.Add(s);
        using var proc = Process.Start(psi)!;
        string output = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        string? line = output.Split('\n').FirstOrDefault(l => l.StartsWith("CHILD ", StringComparison.Ordinal));
        if (proc.ExitCode != 0 || line == null) throw new InvalidOperationException($"child {engine} {path} failed (exit {proc.ExitCode}): {output}");
        string[] f = line.Split(' ');
        return (double.Parse(f[1], CultureInfo.InvariantCulture), double.Parse(f[2], CultureInfo.InvariantCulture));
    }

    private static (double PrefillS, double DecodeS, int[] Tokens) Measure(IRunner r, int[] prompt, int g)
    {
        var tokens = new int[g + 1];
        r.Reset();
        long t0 = Stopwatch.GetTimestamp();
        tokens[0] = r.Prefill(prompt);
        long t1 = Stopwatch.GetTimestamp();
        for (int i = 0; i < g; i++) tokens[i + 1] = r.Step(tokens[i]);
        long t2 = Stopwatch.GetTimestamp();
        return (Stopwatch.GetElapsedTime(t0, t1).TotalSeconds, Stopwatch.GetElapsedTime(t1, t2).TotalSeconds, tokens);
    }

    internal static int Argmax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static double PeakRssMb()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    private static string CpuModel()
    {
        try
        {
            string? l = File.ReadLines("/proc/cpuinfo").FirstOrDefault(x => x.StartsWith("model name", StringComparison.Ordinal));
            return l == null ? "unknown" : l[(l.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { return "unknown"; }
    }

    private static void PrintTable(string[] head, List<string[]> rows)
    {
        int[] w = [.. head.Select((h, c) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[c].Length)))];
        string Fmt(string[] r) => string.Join("  ", r.Select((s, c) => c < 2 ? s.PadRight(w[c]) : s.PadLeft(w[c])));
        Console.WriteLine();
        Console.WriteLine(Fmt(head));
        Console.WriteLine(string.Join("  ", w.Select(x => new string('-', x))));
        foreach (var r in rows) Console.WriteLine(Fmt(r));
    }

    private static int Usage(string why)
    {
        Console.Error.WriteLine($"""
            {why}
            usage: EdgeQuant.LlmBench --eqm A.eqm[,B.eqm] --gguf X.gguf[,Y.gguf] [--threads 1,2] [--prompt-tokens 128]
                                      [--gen-tokens 64] [--repeats 3] [--seed 1234] [--no-rss] [--verbose]
            Run with OMP_WAIT_POLICY=PASSIVE exported (set here too when unset, before llama.cpp loads).
            """);
        return 2;
    }
}

internal interface IRunner : IDisposable
{
    string Engine { get; }
    string Path { get; }
    int Vocab { get; }
    double LoadMs { get; }
    void Open(int threads, int context);
    void Close();
    void Reset();
    /// <summary>Runs the prompt as one batch; returns the argmax of the last position's logits.</summary>
    int Prefill(int[] ids);
    /// <summary>Feeds one token; returns the argmax of its logits.</summary>
    int Step(int id);
}

internal sealed class EdgeQuantRunner : IRunner
{
    private readonly DecoderModel _model;
    private DecoderSession? _s;

    public EdgeQuantRunner(string path)
    {
        Path = path;
        long t0 = Stopwatch.GetTimestamp();
        _model = DecoderModel.Load(path);
        LoadMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    public string Engine => "EdgeQuant";
    public string Path { get; }
    public int Vocab => _model.Config.VocabSize;
    public double LoadMs { get; }
    public void Open(int threads, int context) => _s = _model.CreateSession(new DecoderSessionOptions { Threads = threads, ContextLength = context });
    public void Close() { _s?.Dispose(); _s = null; }
    public void Reset() => _s!.Reset();
    public int Prefill(int[] ids) { _s!.Feed(ids); return Bench.Argmax(_s.Logits); }
    public int Step(int id) { _s!.Feed(id); return Bench.Argmax(_s.Logits); }
    public void Dispose() { Close(); _model.Dispose(); }
}

internal sealed class LlamaRunner : IRunner
{
    private readonly ModelParams _params;
    private readonly LLamaWeights _weights;
    private LLamaContext? _ctx;
    private readonly LLamaBatch _batch = new();
    private int _pos;

    public LlamaRunner(string path, int context)
    {
        Path = path;
        _params = new ModelParams(path) { GpuLayerCount = 0, ContextSize = (uint)context, LoadMode = LLamaLoadMode.MemoryMap }; // mmap, as llama.cpp's CLI and EdgeQuant
        long t0 = Stopwatch.GetTimestamp();
        _weights = LLamaWeights.LoadFromFile(_params);
        LoadMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    public string Engine => "llama.cpp";
    public string Path { get; }
    public int Vocab => _weights.Vocab.Count;
    public double LoadMs { get; }

    public void Open(int threads, int context)
    {
        _params.ContextSize = (uint)context;
        _params.Threads = threads;
        _params.BatchThreads = threads;
        _params.BatchSize = (uint)Math.Max(context, 512);
        _params.UBatchSize = (uint)Math.Max(context, 512); // the whole prompt in one ubatch, like EdgeQuant's Feed
        _ctx = _weights.CreateContext(_params);
    }

    public void Close() { _ctx?.Dispose(); _ctx = null; }
    public void Reset() { _ctx!.NativeHandle.MemoryClear(true); _pos = 0; }

    public int Prefill(int[] ids)
    {
        _batch.Clear();
        for (int i = 0; i < ids.Length; i++) _batch.Add(ids[i], _pos + i, LLamaSeqId.Zero, i == ids.Length - 1);
        return Run(ids.Length);
    }

    public int Step(int id)
    {
        _batch.Clear();
        _batch.Add(id, _pos, LLamaSeqId.Zero, true);
        return Run(1);
    }

    private int Run(int count)
    {
        var rc = _ctx!.NativeHandle.Decode(_batch);
        if (rc != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {rc}");
        _pos += count;
        return Bench.Argmax(_ctx.NativeHandle.GetLogitsIth(_batch.TokenCount - 1));
    }

    public void Dispose() { Close(); _weights.Dispose(); }
}
