using System.Diagnostics;
using EdgeQuant.Converter;
using EdgeQuant.Converter.Data;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Cli;

internal static partial class Commands
{
    private static readonly HashSet<string> NoFlags = [];
    private static readonly HashSet<string> ConvertFlags = ["attention-search", "gamma-migration", "sequential"];
    private static readonly HashSet<string> RunFlags = ["bits", "profile"];

    public static int Convert(string[] argv)
    {
        var a = new Args(argv, ConvertFlags);
        string? hf = a.Str("hf");
        if (hf != null && a.Positional.Count > 0) throw new UsageException("convert takes either MODEL.onnx or --hf DIR");
        string onnx = hf ?? a.Positional1("input .onnx file or --hf DIR");
        string output = a.Str("output") ?? throw new UsageException("convert needs -o OUT.eqm");
        string precision = a.Str("precision", Schema.Precisions.Int8);
        if (!Schema.Precisions.All.Contains(precision)) throw new UsageException($"--precision must be one of {Schema.List(Schema.Precisions.All)}, got '{precision}'");
        string calibrator = a.Str("calibrator", "percentile");
        var ptq = new PtqOptions
        {
            Calibrator = calibrator switch
            {
                "minmax" => CalibratorKind.MinMax,
                "percentile" => CalibratorKind.Percentile,
                "mse" => CalibratorKind.Mse,
                "entropy" or "kl" => CalibratorKind.Entropy,
                _ => throw new UsageException($"--calibrator must be minmax, percentile, mse or entropy, got '{calibrator}'"),
            },
            SmoothAlpha = a.Str("smoothquant") is string sq ? a.Double("smoothquant", 0.5) : null,
            AttentionRankSearch = a.Flag("attention-search"),
            GammaMigration = a.Flag("gamma-migration"),
            PlanInt8MinMacs = a.Int("plan-int8-min-macs", 1 << 15) is var pm and >= 0 ? pm : throw new UsageException("--plan-int8-min-macs must be >= 0"),
            AttentionProbs = a.Str("attention-probs", Schema.AttentionProbs.U8) is var ap && Schema.AttentionProbs.All.Contains(ap) ? ap
                : throw new UsageException($"--attention-probs must be one of {Schema.List(Schema.AttentionProbs.All)}, got '{ap}'"),
            IntegerOnly = a.Str("profile", Schema.Profiles.Mixed) switch
            {
                Schema.Profiles.Mixed => false,
                Schema.Profiles.Integer => true,
                var p => throw new UsageException($"--profile must be mixed or integer, got '{p}'"),
            },
            Percentile = a.Double("percentile", 99.99),
            WeightBits = a.Int("weight-bits", 8),
            WeightClip = a.Str("weight-clip", "minmax") switch
            {
                "minmax" => WeightClip.MinMax,
                "mse" => WeightClip.Mse,
                var wc => throw new UsageException($"--weight-clip must be minmax or mse, got '{wc}'"),
            },
            AdaRound = a.Str("adaround") is null ? null : new AdaRound.Options
            {
                Iterations = a.Int("adaround", 500),
                LearningRate = (float)a.Double("adaround-lr", 0.05),
                Lambda = (float)a.Double("adaround-lambda", 10),
            },
            SequentialReconstruction = a.Flag("sequential"),
            ReconstructionBudget = a.Str("time-budget") is null ? null : a.Double("time-budget", 0),
            WeightBudgetBits = a.Str("weight-budget") is null ? null : a.Double("weight-budget", 8),
            Log = Console.Error.WriteLine,
        };
        if (ptq.SequentialReconstruction && ptq.AdaRound == null) throw new UsageException("--sequential needs --adaround N");
        if (ptq.AdaRound is { Iterations: < 1 } or { LearningRate: not > 0 } or { Lambda: < 0 }) throw new UsageException("--adaround N needs N >= 1, --adaround-lr > 0, --adaround-lambda >= 0");
        if (ptq.WeightBudgetBits is double wb && (ptq.WeightBits != 4 || !(wb >= 4 && wb <= 8))) throw new UsageException("--weight-budget BITS needs --weight-bits 4 and 4 <= BITS <= 8");
        if (ptq.ReconstructionBudget is <= 0) throw new UsageException("--time-budget SECONDS must be positive");
        if (ptq.Percentile is <= 50 or > 100) throw new UsageException("--percentile must be in (50, 100]");
        if (ptq.SmoothAlpha is double alpha && !(alpha >= 0 && alpha <= 1)) throw new UsageException("--smoothquant ALPHA must be in [0, 1]");
        if (ptq.WeightBits is not (4 or 7 or 8)) throw new UsageException("--weight-bits must be 4, 7 or 8");
        string[] labels = a.Str("labels-file") is string lf ? File.ReadAllLines(lf).Where(l => l.Length > 0).ToArray()
            : a.Str("labels")?.Split(',') ?? [];
        string? calibImages = a.Str("calib-images"), calibText = a.Str("calib-text"), calibIds = a.Str("calib-ids");
        int calibRandom = a.Int("calib-random", 0);
        if ((calibImages != null ? 1 : 0) + (calibText != null ? 1 : 0) + (calibIds != null ? 1 : 0) + (calibRandom > 0 ? 1 : 0) > 1)
            throw new UsageException("give one of --calib-images, --calib-random, --calib-text, --calib-ids");
        // Decoder LLMs quantize weights only (activations per token at run time): no calibration data.
        bool decoder = hf != null && Converter.HuggingFace.HfDecoderImporter.IsDecoder(hf);
        if (precision == Schema.Precisions.Int8 && !decoder && calibImages == null && calibText == null && calibIds == null && calibRandom <= 0)
            throw new UsageException("int8 conversion needs calibration data: --calib-images IDX (or --calib-random N for a smoke test) for image models, --calib-text TSV or --calib-ids FILE for text models");
        // Calibration data, sliced to --calib-range (defaults: the first 1000 images, the first 512 sentences or id lines).
        ImageSet? images = null;
        IReadOnlyList<string>? sentences = null;
        IReadOnlyList<int[]>? ids = null;
        if (calibImages != null)
        {
            var set = ImageSources.ReadIdx(calibImages, null);
            var (s0, s1) = a.Str("calib-range") != null ? a.Range("calib-range", set.Count) : (0, Math.Min(1000, set.Count));
            images = set.Slice(s0, s1);
        }
        else if (calibText != null)
        {
            var set = TextSet.ReadTsv(calibText);
            var (s0, s1) = a.Str("calib-range") != null ? a.Range("calib-range", set.Count) : (0, Math.Min(512, set.Count));
            sentences = set.Sentences[s0..s1];
        }
        else if (calibIds != null)
        {
            var all = TokenIds.ReadLines(calibIds);
            var (s0, s1) = a.Str("calib-range") != null ? a.Range("calib-range", all.Count) : (0, Math.Min(512, all.Count));
            ids = all[s0..s1];
        }
        var request = new ConvertRequest
        {
            OnnxPath = hf == null ? onnx : null,
            HfDir = hf,
            OutputPath = output,
            Precision = precision,
            Ptq = ptq,
            Labels = labels,
            PixelScale = (float)a.Double("pixel-scale", 1.0 / 255.0),
            Mean = a.Floats("mean"),
            Std = a.Floats("std"),
            CalibImages = images,
            CalibRandom = calibRandom,
            Head = a.Str("head"),
            MaxLength = a.Int("max-length", 0),
            VocabPath = a.Str("vocab"),
            CalibSentences = sentences,
            CalibIds = ids,
            GroupSize = a.Int("group-size", 32),
            PlantOutliers = ParseOutliers(a.Str("plant-outliers")),
            ReportPath = a.Str("report"),
            Log = Console.Error.WriteLine,
        };
        a.CheckAllUsed();
        ModelConverter.Convert(request);
        return 0;
    }

    /// <summary>--plant-outliers N[:FACTOR] (BERT-style outlier channels for quantization experiments).</summary>
    private static (int, float)? ParseOutliers(string? spec)
    {
        if (spec == null) return null;
        string[] p = spec.Split(':');
        if (!int.TryParse(p[0], out int n) || n < 1 || (p.Length > 1 && !float.TryParse(p[1], System.Globalization.CultureInfo.InvariantCulture, out _)))
            throw new UsageException("--plant-outliers takes N or N:FACTOR (e.g. 4:50)");
        return (n, p.Length > 1 ? float.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture) : 50f);
    }

    public static int Info(string[] argv)
    {
        var a = new Args(argv, NoFlags);
        string path = a.Positional1("model file");
        a.CheckAllUsed();
        using var f = ModelFile.Open(path);
        var m = f.Metadata;
        var c = m.Encoder;
        Console.WriteLine($"file            {path} ({f.Length} bytes)");
        Console.WriteLine($"format          v{f.FormatVersion}, quantization scheme v{f.QuantSchemeVersion}, little-endian, checksums OK");
        Console.WriteLine($"source          {m.Source}");
        Console.WriteLine($"converter       {m.Converter}");
        Console.WriteLine($"architecture    {m.Architecture}, precision {m.Precision}");
        if (m.Decoder != null) InfoDecoder(m);
        else InfoEncoder(m, c);
        InfoTensors(f);
        return 0;
    }

    private static void InfoEncoder(ModelMetadata m, EncoderConfig c)
    {
        Console.WriteLine($"encoder         {c.Layers} blocks, hidden {c.Hidden}, heads {c.Heads}, MLP {c.MlpDim} ({c.Activation}), {(c.NormFirst ? "pre" : "post")}-LN eps {c.LayerNormEps}, seq {c.SeqLen}, pooling {c.Pooling}");
        if (m.Image is { } im)
            Console.WriteLine($"input           {im.Channels}x{im.Height}x{im.Width}, {(m.Plan != null ? "stem graph" : $"patch {im.PatchSize}")}, x = (pixel*{im.Scale:G6} - [{string.Join(", ", im.Mean)}]) / [{string.Join(", ", im.Std)}]");
        if (m.Plan is { } plan)
            Console.WriteLine("plan\n" + string.Join("\n", PlanText.Describe(plan).Split('\n').Select(l => "  " + l)));
        if (m.Text is { } tx)
            Console.WriteLine($"text            {tx.ModelType}, vocab {tx.VocabSize}, positions {tx.MaxPositions} (offset {tx.PositionOffset}), token types {tx.TypeVocabSize}, " +
                $"tokenizer {tx.Tokenizer}{(tx.Tokenizer == Schema.Tokenizers.WordPiece ? $" (lower-case {tx.LowerCase})" : "")}, head {tx.Head}{(tx.Head == Schema.TextHeads.Classification ? $" (pooler {tx.PoolerActivation})" : "")}");
        if (m.Text is not { Head: Schema.TextHeads.Embedding }) Console.WriteLine($"labels          {c.NumClasses}: {string.Join(", ", m.Labels)}");
        if (m.Quant is { } q)
        {
            Console.WriteLine($"quantization    W{q.WeightBits}A8 symmetric, per-channel weights, calibrator {q.Calibrator}; input scale {q.InputScale:G4}, head input scale {q.HeadInputScale:G4}");
            for (int i = 0; i < q.Blocks.Length; i++)
            {
                var b = q.Blocks[i];
                Console.WriteLine($"  block {i,-3}     x {b.AttnInputScale:G3}  q {b.QScale:G3}  k {b.KScale:G3}  v {b.VScale:G3}  ctx {b.ContextScale:G3}  mlp-in {b.MlpInputScale:G3}  act {b.ActScale:G3}");
            }
        }
    }

    private static void InfoTensors(ModelFile f)
    {
        long bytes = 0;
        var byType = new SortedDictionary<string, (int, long)>();
        foreach (var t in f.Tensors)
        {
            bytes += t.Size;
            var (n, s) = byType.GetValueOrDefault(t.DType.ToString());
            byType[t.DType.ToString()] = (n + 1, s + t.Size);
        }
        Console.WriteLine($"tensors         {f.Tensors.Count}, {bytes / 1024.0:F1} KiB: {string.Join(", ", byType.Select(kv => $"{kv.Key} {kv.Value.Item1} ({kv.Value.Item2 / 1024.0:F1} KiB)"))}");
        foreach (var t in f.Tensors)
            Console.WriteLine($"  {t.Name,-28} {t.DType,-4} {t.ShapeText,-14} offset {t.Offset,9}  {t.Size,9} B  crc {t.Crc:x8}");
    }

    public static int Run(string[] argv)
    {
        var a = new Args(argv, RunFlags);
        if (a.Positional.Count == 1)
        {
            using var textModel = Model.Load(a.Positional[0]);
            if (!textModel.IsText) throw new UsageException("run needs MODEL.eqm IMAGE");
            return RunText(textModel, a);
        }
        if (a.Positional.Count != 2) throw new UsageException("run needs MODEL.eqm IMAGE (or MODEL.eqm --text \"...\" for text models)");
        int top = a.Int("top", 5);
        int index = a.Int("index", -1);
        bool bits = a.Flag("bits");
        int threads = a.Int("threads", 1);
        int repeat = a.Int("repeat", 0);
        bool profile = a.Flag("profile");
        a.CheckAllUsed();
        using var model = Model.Load(a.Positional[0]);
        string imagePath = a.Positional[1];
        ImageSet img = index >= 0 ? ImageSources.ReadIdx(imagePath, null) : ImageSources.ReadPnm(imagePath);
        if (index >= img.Count) throw new ArgumentException($"--index {index}: the file has {img.Count} images");
        using var session = model.CreateSession(new SessionOptions { Threads = threads, Profile = profile });
        var logits = new float[model.OutputLength];
        long t0 = Stopwatch.GetTimestamp();
        session.RunPixels(img.Image(Math.Max(index, 0)), img.Height, img.Width, img.Channels, logits);
        double ms = Elapsed(t0);
        if (repeat > 0)
        {
            // The same call timed repeatedly (10 warm-up): the C# side of the C-ABI overhead comparison.
            var times = new List<double>(repeat);
            for (int i = 0; i < repeat + 10; i++)
            {
                long r0 = Stopwatch.GetTimestamp();
                session.RunPixels(img.Image(Math.Max(index, 0)), img.Height, img.Width, img.Channels, logits);
                if (i >= 10) times.Add(Elapsed(r0) * 1000);
            }
            times.Sort();
            Console.Error.WriteLine($"RunPixels x{repeat}: median {Percentile(times, 50):F1} us, p10 {Percentile(times, 10):F1}, min {times[0]:F1}");
        }
        if (profile)
        {
            byte[] pixels = img.Image(Math.Max(index, 0)).ToArray();
            PrintProfile(session, repeat, () => session.RunPixels(pixels, img.Height, img.Width, img.Channels, logits));
            return 0;
        }
        if (bits)
        {
            // IEEE-754 bit patterns, one per line: compared bit for bit with the C example's --bits output.
            foreach (float v in logits) Console.WriteLine(BitConverter.SingleToUInt32Bits(v).ToString("x8"));
            return 0;
        }
        PrintTop(model, logits, top);
        Console.Error.WriteLine($"{model.Metadata.Precision}, {session.KernelPath} kernels, {ms:F2} ms (first run)");
        return 0;
    }

    /// <summary>Warm-up (≥ 1 s, so the JIT's optimized code is in place), then <paramref name="repeat"/> (default 500) profiled runs.</summary>
    private static void PrintProfile(Session session, int repeat, Action run)
    {
        long w0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 50 || Elapsed(w0) < 1000; i++) run();
        session.Profile!.Reset();
        for (int i = 0; i < (repeat > 0 ? repeat : 500); i++) run();
        Console.WriteLine($"profile of {session.Model.Metadata.Source}: {session.Model.Metadata.Precision}, {session.KernelPath} kernels, {session.Threads} thread(s)");
        Console.WriteLine(session.Profile.Format());
    }

    public static int Eval(string[] argv)
    {
        var a = new Args(argv, NoFlags);
        string path = a.Positional1("model file");
        if (a.Str("tsv") != null)
        {
            using var textModel = Model.Load(path);
            return EvalText(path, textModel, a);
        }
        string images = a.Str("images") ?? throw new UsageException("eval needs --images IDX (or --tsv FILE for text models)");
        string labelsPath = a.Str("labels") ?? throw new UsageException("eval needs --labels IDX");
        var set = ImageSources.ReadIdx(images, labelsPath);
        var (start, end) = a.Range("range", set.Count);
        int threads = a.Int("threads", 1);
        string? reference = a.Str("reference");
        a.CheckAllUsed();
        long tl = Stopwatch.GetTimestamp();
        using var model = Model.Load(path);
        double loadMs = Elapsed(tl);
        using var cmp = reference != null ? new ReferenceComparison(reference, model) : null;
        using var session = model.CreateSession(new SessionOptions { Threads = threads });
        var logits = new float[model.OutputLength];
        var times = new List<double>(end - start);
        int correct = 0;
        var progress = new Progress("eval", end - start, Console.Error.WriteLine);
        for (int i = start; i < end; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            session.RunPixels(set.Image(i), set.Height, set.Width, set.Channels, logits);
            times.Add(Elapsed(t0));
            if (Argmax(logits) == set.Labels![i]) correct++;
            if (cmp != null)
            {
                cmp.Session.RunPixels(set.Image(i), set.Height, set.Width, set.Channels, cmp.Output);
                cmp.Add(logits);
            }
            progress.Report(i - start + 1);
        }
        times.Sort();
        int n = end - start;
        Console.WriteLine($"model      {path} ({model.Metadata.Precision}, {session.KernelPath} kernels)");
        Console.WriteLine($"images     {n} ({start}..{end - 1})");
        Console.WriteLine($"top-1      {100.0 * correct / n:F2} % ({correct}/{n})");
        if (cmp != null) Console.WriteLine($"compare    {cmp.Summary(reference!)}");
        Console.WriteLine($"latency    median {Percentile(times, 50):F3} ms, p90 {Percentile(times, 90):F3} ms (batch 1, {session.Threads} thread{(session.Threads > 1 ? "s" : "")})");
        Console.WriteLine($"load       {loadMs:F1} ms; arena {session.ArenaBytes / 1024.0:F1} KiB; peak RSS {PeakRssMiB():F1} MiB");
        return 0;
    }
}
