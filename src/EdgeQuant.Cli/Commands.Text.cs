using System.Diagnostics;
using System.Globalization;
using EdgeQuant.Converter;
using EdgeQuant.Converter.Data;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Cli;

// Text (BERT-family) verbs: run --text/--ids, eval on a TSV, embed.
internal static partial class Commands
{
    /// <summary>--ids: token ids; a malformed list is a usage error (exit 2).</summary>
    private static int[] ParseIds(string text)
    {
        try { return TokenIds.Parse(text, "--ids"); }
        catch (FormatException e) { throw new UsageException(e.Message); }
    }

    private static int RunText(Model model, Args a)
    {
        string? text = a.Str("text");
        string? idsArg = a.Str("ids");
        int top = a.Int("top", 5);
        bool bits = a.Flag("bits");
        int threads = a.Int("threads", 1);
        int repeat = a.Int("repeat", 0);
        bool profile = a.Flag("profile");
        a.CheckAllUsed();
        if ((text == null) == (idsArg == null)) throw new UsageException("a text model runs with --text \"...\" or --ids 101,2023,...,102");
        // The runtime decodes argv as UTF-8 with U+FFFD for invalid bytes: refuse it rather than tokenize a guess.
        if (text != null && text.Contains('\uFFFD')) throw new UsageException("--text is not valid UTF-8 (or contains U+FFFD)");
        using var session = model.CreateSession(new SessionOptions { Threads = threads, Profile = profile });
        var output = new float[model.OutputLength];
        int[] ids;
        if (text != null)
        {
            ids = new int[model.MaxTokens];
            ids = ids[..session.Tokenize(text, ids)];
        }
        else ids = ParseIds(idsArg!);
        if (profile)
        {
            PrintProfile(session, repeat, () => session.RunTokens(ids, default, default, output));
            return 0;
        }
        long t0 = Stopwatch.GetTimestamp();
        session.RunTokens(ids, default, default, output);
        double ms = Elapsed(t0);
        if (repeat > 0)
        {
            var times = new List<double>(repeat);
            for (int i = 0; i < repeat + 10; i++)
            {
                long r0 = Stopwatch.GetTimestamp();
                session.RunTokens(ids, default, default, output);
                if (i >= 10) times.Add(Elapsed(r0));
            }
            times.Sort();
            Console.Error.WriteLine($"RunTokens x{repeat} ({ids.Length} tokens): median {Percentile(times, 50):F3} ms, p90 {Percentile(times, 90):F3} ms");
        }
        if (bits)
        {
            foreach (float v in output) Console.WriteLine(BitConverter.SingleToUInt32Bits(v).ToString("x8"));
            return 0;
        }
        Console.WriteLine($"tokens          {ids.Length}: {string.Join(' ', ids)}");
        if (model.Text!.Head == Schema.TextHeads.Embedding) PrintEmbedding(output);
        else PrintTop(model, output, top);
        Console.Error.WriteLine($"{model.Metadata.Precision}, {session.KernelPath} kernels, {ms:F2} ms (first run)");
        return 0;
    }

    private static void PrintTop(Model model, float[] logits, int top)
    {
        if (top < 1) return;
        var order = new int[Math.Min(top, logits.Length)];
        var probs = new float[order.Length];
        Predictions.TopK(logits, order, probs);
        var labels = model.Metadata.Labels;
        for (int j = 0; j < order.Length; j++)
        {
            int i = order[j];
            Console.WriteLine($"{(labels.Length > i ? labels[i] : i.ToString(CultureInfo.InvariantCulture)),-16} p={probs[j]:F4}  logit={logits[i]:F4}");
        }
    }

    private static void PrintEmbedding(float[] e)
    {
        double norm = Math.Sqrt(e.Sum(v => (double)v * v));
        Console.WriteLine($"embedding       [{e.Length}] L2 norm {norm:F4}: {string.Join(' ', e.Take(8).Select(v => v.ToString("F4", CultureInfo.InvariantCulture)))} ...");
    }

    /// <summary>Accuracy, latency and tokenizer speed on a labelled TSV.</summary>
    private static int EvalText(string path, Model model, Args a)
    {
        string tsv = a.Str("tsv") ?? throw new UsageException("eval of a text model needs --tsv FILE (sentence<TAB>label)");
        var set = TextSet.ReadTsv(tsv);
        var (start, end) = a.Range("range", set.Count);
        int threads = a.Int("threads", 1);
        string? reference = a.Str("reference");
        a.CheckAllUsed();
        using var cmp = reference != null ? new ReferenceComparison(reference, model) : null;
        if (model.Text!.Head != Schema.TextHeads.Classification) throw new UsageException("eval needs a classification model; this one outputs embeddings");
        using var session = model.CreateSession(new SessionOptions { Threads = threads });
        var logits = new float[model.OutputLength];
        var ids = new int[model.MaxTokens];
        var times = new List<double>(end - start);
        int correct = 0, labelled = 0;
        long tokens = 0, tokTicks = 0;
        var progress = new Progress("eval", end - start, Console.Error.WriteLine);
        for (int i = start; i < end; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            int n = session.Tokenize(set.Sentences[i], ids);
            long t1 = Stopwatch.GetTimestamp();
            session.RunTokens(ids.AsSpan(0, n), default, default, logits);
            tokTicks += t1 - t0;
            times.Add(Elapsed(t0));
            tokens += n;
            if (cmp != null)
            {
                cmp.Session.RunTokens(ids.AsSpan(0, n), default, default, cmp.Output);
                cmp.Add(logits);
            }
            if (set.Labels[i] >= 0)
            {
                labelled++;
                if (Argmax(logits) == set.Labels[i]) correct++;
            }
            progress.Report(i - start + 1);
        }
        times.Sort();
        int count = end - start;
        double tokSec = (double)tokTicks / Stopwatch.Frequency;
        Console.WriteLine($"model      {path} ({model.Metadata.Precision}, {session.KernelPath} kernels)");
        Console.WriteLine($"sentences  {count} ({start}..{end - 1}), {tokens} tokens");
        if (labelled > 0) Console.WriteLine($"accuracy   {100.0 * correct / labelled:F2} % ({correct}/{labelled})");
        if (cmp != null) Console.WriteLine($"compare    {cmp.Summary(reference!)}");
        Console.WriteLine($"latency    median {Percentile(times, 50):F3} ms, p90 {Percentile(times, 90):F3} ms per sentence (tokenize + run, {session.Threads} thread{(session.Threads > 1 ? "s" : "")})");
        Console.WriteLine($"tokenizer  {tokens / tokSec:F0} tokens/s ({count / tokSec:F0} sentences/s)");
        Console.WriteLine($"memory     arena {session.ArenaBytes / 1024.0:F1} KiB; peak RSS {PeakRssMiB():F1} MiB");
        return 0;
    }

    /// <summary>Sentence embeddings of the given texts (or the lines of --file); prints them or writes float32 rows, and their cosine similarities.</summary>
    public static int Embed(string[] argv)
    {
        var a = new Args(argv, EmbedFlags);
        if (a.Positional.Count < 1) throw new UsageException("embed needs MODEL.eqm and texts (or --file)");
        string? file = a.Str("file");
        string? output = a.Str("output");
        bool normalize = !a.Flag("no-normalize");
        int threads = a.Int("threads", 1);
        a.CheckAllUsed();
        var texts = a.Positional.Skip(1).ToList();
        if (file != null) texts.AddRange(File.ReadAllLines(file).Where(l => l.Length > 0));
        if (texts.Count == 0) throw new UsageException("embed needs at least one text");
        using var model = Model.Load(a.Positional[0]);
        if (model.Text is not { Head: Schema.TextHeads.Embedding })
            throw new UsageException("embed needs a text model with an embedding head (convert a …Model checkpoint, or --head embedding)");
        using var session = model.CreateSession(new SessionOptions { Threads = threads, NormalizeEmbeddings = normalize });
        var all = new float[texts.Count][];
        for (int i = 0; i < texts.Count; i++)
        {
            all[i] = new float[model.OutputLength];
            session.RunText(texts[i], all[i]);
        }
        if (output != null)
        {
            using var fs = File.Create(output);
            foreach (var e in all) fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.AsSpan()));
            Console.Error.WriteLine($"wrote {texts.Count} x {model.OutputLength} float32 (little-endian) to {output}");
        }
        else
            for (int i = 0; i < texts.Count; i++)
            {
                Console.WriteLine($"[{i}] {texts[i]}");
                PrintEmbedding(all[i]);
            }
        if (texts.Count > 1)
        {
            Console.WriteLine("cosine similarity");
            for (int i = 0; i < texts.Count; i++)
                Console.WriteLine($"  [{i}] " + string.Join(' ', all.Select(e => Cosine(all[i], e).ToString("F3", CultureInfo.InvariantCulture))));
        }
        return 0;
    }

    private static readonly HashSet<string> EmbedFlags = ["no-normalize"];

    private static double Cosine(float[] x, float[] y)
    {
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < x.Length; i++) (xy, xx, yy) = (xy + x[i] * y[i], xx + x[i] * x[i], yy + y[i] * y[i]);
        return xy / Math.Sqrt(xx * yy + 1e-30);
    }
}
