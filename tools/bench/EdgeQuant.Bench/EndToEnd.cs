using System.Diagnostics;
using System.Text.Json;
using EdgeQuant.Engine;
using Microsoft.ML.OnnxRuntime;

namespace EdgeQuant.Bench;

/// <summary>End-to-end latency and peak RSS: EdgeQuant INT8 vs ONNX Runtime FP32 and INT8 on one model.</summary>
internal static class EndToEnd
{
    private sealed record Result(string Engine, int Threads, double Median, double P90, double PeakRssMiB, double LoadMs, string Top1);

    private static Dictionary<string, string> Opts(string[] args)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) d[args[i].TrimStart('-')] = args[i + 1];
        return d;
    }

    public static int Compare(string[] args)
    {
        var o = Opts(args);
        string name = o.GetValueOrDefault("name", Path.GetFileNameWithoutExtension(o["onnx"]));
        int[] threads = o.GetValueOrDefault("threads", "1,2").Split(',').Select(int.Parse).ToArray();
        var results = new List<Result>();
        string self = Environment.ProcessPath!;
        string dll = typeof(EndToEnd).Assembly.Location;
        foreach (int t in threads)
            foreach (var (engine, model) in new[] { ("edgequant-int8", o["eqm"]), ("ort-fp32", o["onnx"]), ("ort-int8", o["int8dyn"]) })
            {
                var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
                if (self.EndsWith("dotnet", StringComparison.Ordinal)) psi.ArgumentList.Add(dll);
                foreach (var a in new[] { "one", "--engine", engine, "--model", model, "--threads", t.ToString(), "--runs", o.GetValueOrDefault("runs", "30"), "--warmup", o.GetValueOrDefault("warmup", "5"), "--input", o.GetValueOrDefault("input", ""), "--seq", o.GetValueOrDefault("seq", "128") })
                    psi.ArgumentList.Add(a);
                using var p = Process.Start(psi)!;
                string line = p.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
                p.WaitForExit();
                if (p.ExitCode != 0) { Console.Error.WriteLine($"{engine} t={t} failed: {line}"); return 1; }
                var r = JsonSerializer.Deserialize<Result>(line)!;
                results.Add(r);
                Console.Error.WriteLine($"  {name} {engine,-15} threads {t}: median {r.Median:F3} ms, p90 {r.P90:F3} ms, peak RSS {r.PeakRssMiB:F1} MiB, top-1 {r.Top1}");
            }
        Console.WriteLine($"\n### {name} (batch 1; median / p90 ms over {o.GetValueOrDefault("runs", "30")} runs after {o.GetValueOrDefault("warmup", "5")} warm-up runs and ≥ {MinWarmupSeconds:0.#} s; one bench invocation)\n");
        Console.WriteLine("| threads | EdgeQuant INT8 | ORT FP32 | ORT INT8 | EQ / ORT INT8 | EQ / ORT FP32 | peak RSS EQ / ORT INT8 / ORT FP32 (MiB) |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (int t in threads)
        {
            var eq = results.First(r => r.Engine == "edgequant-int8" && r.Threads == t);
            var f = results.First(r => r.Engine == "ort-fp32" && r.Threads == t);
            var q = results.First(r => r.Engine == "ort-int8" && r.Threads == t);
            Console.WriteLine($"| {t} | {eq.Median:F3} / {eq.P90:F3} | {f.Median:F3} / {f.P90:F3} | {q.Median:F3} / {q.P90:F3} | **{eq.Median / q.Median:F2}** | **{eq.Median / f.Median:F2}** | {eq.PeakRssMiB:F0} / {q.PeakRssMiB:F0} / {f.PeakRssMiB:F0} |");
        }
        if (o.TryGetValue("json", out string? jsonPath))
        {
            // Append one line per result: {"model": name, ...} for tools/bench/plot.py.
            using var f = File.AppendText(jsonPath);
            foreach (var r in results) f.WriteLine(JsonSerializer.Serialize(new { model = name, r.Engine, r.Threads, r.Median, r.P90, r.PeakRssMiB, r.LoadMs }));
        }
        var e1 = results.FirstOrDefault(r => r.Engine == "edgequant-int8" && r.Threads == 1);
        var e2 = results.FirstOrDefault(r => r.Engine == "edgequant-int8" && r.Threads == 2);
        if (e1 != null && e2 != null) Console.WriteLine($"\nEdgeQuant 2-thread speed-up: {e1.Median / e2.Median:F2}x");
        return 0;
    }

    /// <summary>Child process: one engine, one thread count; prints a JSON result line.</summary>
    public static int One(string[] args)
    {
        var o = Opts(args);
        string engine = o["engine"], model = o["model"];
        int threads = int.Parse(o["threads"]), runs = int.Parse(o["runs"]), warmup = int.Parse(o["warmup"]);
        var times = new List<double>(runs);
        long t0 = Stopwatch.GetTimestamp();
        float[] logits;
        if (engine == "edgequant-int8")
        {
            using var m = Model.Load(model);
            using var s = m.CreateSession(new EdgeQuant.Engine.SessionOptions { Threads = threads });
            double load = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            logits = new float[m.OutputLength];
            if (m.IsText)
            {
                int[] ids = TokenIds(int.Parse(o.GetValueOrDefault("seq", "128"))).Select(v => (int)v).ToArray();
                Measure(() => s.RunTokens(ids, default, default, logits), warmup, runs, times);
                Report(engine, threads, times, load, logits);
                return 0;
            }
            float[] x = Input(o.GetValueOrDefault("input", ""), m.InputLength);
            Measure(() => s.Run(x, logits), warmup, runs, times);
            Report(engine, threads, times, load, logits);
            return 0;
        }
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(model, so);
        double loadMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        if (session.InputMetadata.ContainsKey("input_ids"))
            return OneText(engine, threads, runs, warmup, session, loadMs, int.Parse(o.GetValueOrDefault("seq", "128")));
        var meta = session.InputMetadata.First();
        long[] shape = meta.Value.Dimensions.Select(d => d < 0 ? 1L : d).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        float[] input = Input(o.GetValueOrDefault("input", ""), (int)count);
        string outName = session.OutputMetadata.First().Key;
        int outCount = (int)session.OutputMetadata.First().Value.Dimensions.Select(d => d < 0 ? 1L : d).Aggregate(1L, (a, b) => a * b);
        logits = new float[outCount];
        using var inVal = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var outVal = OrtValue.CreateTensorValueFromMemory(logits, [1, outCount]);
        using var runOptions = new RunOptions();
        string[] inNames = [meta.Key], outNames = [outName];
        OrtValue[] inVals = [inVal], outVals = [outVal];
        Measure(() => session.Run(runOptions, inNames, inVals, outNames, outVals), warmup, runs, times);
        Report(engine, threads, times, loadMs, logits);
        return 0;
    }

    /// <summary>Shortest warm-up: the .NET JIT recompiles hot methods (tier 1, with profile data) only after a ~100 ms
    /// delay, which a few hundred runs of a tiny model do not reach; ONNX Runtime gets the same warm-up.</summary>
    private const double MinWarmupSeconds = 1.0;

    /// <summary>Runs <paramref name="run"/> <paramref name="warmup"/> times and at least <see cref="MinWarmupSeconds"/>, then times <paramref name="runs"/> runs (ms).</summary>
    private static void Measure(Action run, int warmup, int runs, List<double> times)
    {
        long w0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < warmup || Stopwatch.GetElapsedTime(w0).TotalSeconds < MinWarmupSeconds; i++) run();
        for (int i = 0; i < runs; i++)
        {
            long s0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(s0).TotalMilliseconds);
        }
    }

    /// <summary>The benchmark's token sequence: [CLS], seeded ids in [1000, 30000), [SEP] (no padding, so both engines do the same work).</summary>
    private static long[] TokenIds(int seq)
    {
        var r = new Random(7);
        var ids = new long[seq];
        for (int i = 0; i < seq; i++) ids[i] = i == 0 ? 101 : i == seq - 1 ? 102 : r.Next(1000, 30000);
        return ids;
    }

    /// <summary>ONNX Runtime on a BERT graph: input_ids / attention_mask / token_type_ids int64 [1, seq].</summary>
    private static int OneText(string engine, int threads, int runs, int warmup, InferenceSession session, double loadMs, int seq)
    {
        long[] ids = TokenIds(seq), mask = Enumerable.Repeat(1L, seq).ToArray(), types = new long[seq];
        long[] shape = [1, seq];
        var names = new List<string>();
        var values = new List<OrtValue>();
        foreach (var (n, v) in new[] { ("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types) })
            if (session.InputMetadata.ContainsKey(n)) { names.Add(n); values.Add(OrtValue.CreateTensorValueFromMemory(v, shape)); }
        string outName = session.OutputMetadata.First().Key;
        var times = new List<double>(runs);
        float[] logits = [];
        using var runOptions = new RunOptions();
        Measure(() =>
        {
            using var outs = session.Run(runOptions, names, values, [outName]);
            if (logits.Length == 0) logits = outs[0].GetTensorDataAsSpan<float>().ToArray();
        }, warmup, runs, times);
        foreach (var v in values) v.Dispose();
        Report(engine, threads, times, loadMs, logits);
        return 0;
    }

    private static float[] Input(string path, int count)
    {
        if (path.Length > 0)
        {
            float[] f = Npy(path);
            if (f.Length != count) throw new ArgumentException($"{path}: {f.Length} values, the model takes {count}");
            return f;
        }
        var r = new Random(7);
        return Enumerable.Range(0, count).Select(_ => (float)r.NextDouble()).ToArray();
    }

    private static float[] Npy(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        int headerLen = b[8] | b[9] << 8;
        string header = System.Text.Encoding.ASCII.GetString(b, 10, headerLen);
        if (!header.Contains("'<f4'")) throw new InvalidDataException($"{path}: expected float32 .npy");
        var f = new float[(b.Length - 10 - headerLen) / 4];
        Buffer.BlockCopy(b, 10 + headerLen, f, 0, f.Length * 4);
        return f;
    }

    private static void Report(string engine, int threads, List<double> times, double loadMs, float[] logits)
    {
        times.Sort();
        double P(double q) => times[Math.Min(times.Count - 1, (int)Math.Ceiling(q * times.Count) - 1)];
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        double rss = -1;
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) rss = double.Parse(line[6..].Trim().Split(' ')[0]) / 1024.0;
        Console.WriteLine(JsonSerializer.Serialize(new Result(engine, threads, P(0.5), P(0.9), rss, loadMs, $"{best}")));
    }
}
