using System.Diagnostics;
using EdgeQuant.Engine.Decoder;
using EdgeQuant.Format;

namespace EdgeQuant.Cli;

// Decoder LLM verbs: generate, perplexity; the decoder part of info.
internal static partial class Commands
{
    private static readonly HashSet<string> GenerateFlags = ["profile", "kv-int8"];

    /// <summary>generate MODEL --ids 1,2,3 [sampling options]: streams the generated ids, then timing on stderr.</summary>
    public static int Generate(string[] argv)
    {
        var a = new Args(argv, GenerateFlags);
        string path = a.Positional1("model file");
        string ids = a.Str("ids") ?? throw new UsageException("generate needs --ids 1,2,3 (the prompt as token ids; this model file stores no tokenizer)");
        int maxTokens = a.Int("max-tokens", 64);
        int threads = a.Int("threads", 1);
        int context = a.Int("context", 0);
        var sampling = new SamplingOptions
        {
            Temperature = (float)a.Double("temperature", 0),
            TopK = a.Int("top-k", 40),
            TopP = (float)a.Double("top-p", 0.95),
            RepetitionPenalty = (float)a.Double("repetition-penalty", 1),
            Seed = (ulong)a.Int("seed", 0),
        };
        int[] stopIds = a.Str("stop-ids") is string s ? ParseIds(s) : [];
        bool profile = a.Flag("profile"), kv8 = a.Flag("kv-int8");
        a.CheckAllUsed();
        if (maxTokens < 1) throw new UsageException("--max-tokens must be >= 1");
        try { sampling.Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new UsageException(e.Message.Split(" (Parameter")[0]); }
        int[] prompt = ParseIds(ids);
        if (prompt.Length == 0) throw new UsageException("--ids is empty");

        var tLoad = Stopwatch.StartNew();
        using var model = DecoderModel.Load(path);
        using var session = model.CreateSession(new DecoderSessionOptions { Threads = threads, ContextLength = context, Profile = profile, KvCacheInt8 = kv8 });
        double loadMs = tLoad.Elapsed.TotalMilliseconds;
        if (prompt.Length + maxTokens > session.ContextLength)
            throw new ArgumentException($"the prompt ({prompt.Length} tokens) + --max-tokens {maxTokens} exceed the context of {session.ContextLength} tokens (--context N)");
        var sampler = new Sampler(model.Config.VocabSize, sampling);
        var history = new int[prompt.Length + maxTokens];
        prompt.CopyTo(history, 0);
        int n = prompt.Length;

        long t0 = Stopwatch.GetTimestamp();
        session.Feed(prompt);
        double prefillMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        session.Profile?.Reset(); // the profile covers the decode steps
        long t1 = Stopwatch.GetTimestamp();
        var stdout = Console.Out;
        int generated = 0;
        string reason = "max tokens";
        while (true)
        {
            int next = sampler.Next(session.Logits, history.AsSpan(0, n));
            history[n++] = next;
            generated++;
            stdout.Write(generated == 1 ? $"{next}" : $",{next}");
            stdout.Flush();
            if (Array.IndexOf(model.Config.EosIds, next) >= 0 || Array.IndexOf(stopIds, next) >= 0) { reason = "stop token"; break; }
            if (generated == maxTokens) break;
            session.Feed(next);
        }
        double decodeMs = Stopwatch.GetElapsedTime(t1).TotalMilliseconds;
        stdout.WriteLine();
        // The first generated token comes from the prefill's logits: decode steps = generated − 1.
        Console.Error.WriteLine($"load {loadMs:F0} ms; prefill {prompt.Length} tokens in {prefillMs:F1} ms ({prompt.Length / (prefillMs / 1000):F1} tokens/s); " +
            $"generated {generated} tokens ({reason}), {Math.Max(generated - 1, 0)} decode steps in {decodeMs:F1} ms ({(generated - 1) / Math.Max(decodeMs / 1000, 1e-9):F1} tokens/s); {threads} thread(s)");
        if (session.Profile is { Runs: > 0 } p) Console.Error.WriteLine("decode step profile:\n" + p.Format());
        return 0;
    }

    /// <summary>perplexity MODEL --ids-file FILE: exp(mean negative log-likelihood) of each line's tokens after the first.</summary>
    public static int Perplexity(string[] argv)
    {
        var a = new Args(argv, GenerateFlags);
        string path = a.Positional1("model file");
        string file = a.Str("ids-file") ?? throw new UsageException("perplexity needs --ids-file FILE (one comma-separated token id list per line)");
        int threads = a.Int("threads", 1);
        int context = a.Int("context", 0);
        bool kv8 = a.Flag("kv-int8");
        a.CheckAllUsed();
        var lines = Converter.Data.TokenIds.ReadLines(file);
        using var model = DecoderModel.Load(path);
        using var session = model.CreateSession(new DecoderSessionOptions { Threads = threads, ContextLength = context, KvCacheInt8 = kv8 });
        var (nll, count) = session.NegativeLogLikelihood(lines);
        if (count == 0) throw new ArgumentException($"{file}: no line has two or more tokens");
        Console.WriteLine($"perplexity {Math.Exp(nll / count):F4} over {count} predicted tokens in {lines.Count} lines (context {session.ContextLength})");
        return 0;
    }

    /// <summary>The decoder lines of `info`.</summary>
    private static void InfoDecoder(ModelMetadata m)
    {
        var c = m.Decoder!;
        Console.WriteLine($"decoder         {c.ModelType}: {c.Layers} blocks, hidden {c.Hidden}, {c.Heads} heads ({c.KvHeads} key/value) of {c.HeadDim}, " +
            $"MLP {c.MlpDim} ({(c.GatedMlp ? "gated " : "")}{c.Activation}), {c.Norm} eps {c.NormEps}, positions {c.Positions}, {c.MaxPositions} trained");
        Console.WriteLine($"vocabulary      {c.VocabSize} tokens{(c.TiedEmbeddings ? ", LM head tied to the embedding" : "")}; BOS {c.BosId}, EOS [{string.Join(", ", c.EosIds)}]");
        Console.WriteLine(c.Quant is { } q
            ? $"quantization    weights {(q.Weights == Schema.DecoderWeightKinds.S4Group ? $"4-bit, one scale per channel and {q.GroupSize} inputs" : "int8 per channel")} ({q.Calibrator}), LM head int8; activations int8 per token at run time"
            : "quantization    none (fp32)");
    }
}
