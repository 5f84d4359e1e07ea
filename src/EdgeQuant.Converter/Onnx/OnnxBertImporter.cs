using System.Text;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.Onnx;

/// <summary>Options of the ONNX BERT import.</summary>
public sealed class BertImportOptions
{
    /// <summary>"classification" or "embedding"; null = from the graph output (logits [batch, classes] or hidden states [batch, seq, hidden]).</summary>
    public string? Head { get; set; }
    /// <summary>Cap on the sequence length; 0 = the position table's size.</summary>
    public int MaxLength { get; set; }
    /// <summary>WordPiece vocab.txt; null = "vocab.txt" next to the .onnx file if present (else the model takes token ids).</summary>
    public string? VocabPath { get; set; }
    /// <summary>Lower-case input text (uncased vocabularies, default).</summary>
    public bool LowerCase { get; set; } = true;
    /// <summary>Receives progress lines.</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>
/// Imports a PyTorch-exported BERT-family encoder (inputs input_ids, attention_mask, token_type_ids as
/// torch.onnx.export writes them): finds the word/position/type embedding Gathers, then the same LayerNorm / linear /
/// Softmax / activation events as the ViT importer (post-LN blocks), the pooler and classifier, and verifies the FP32
/// engine model against the graph on padded and unpadded samples.
/// </summary>
public static class OnnxBertImporter
{
    /// <summary>Imports <paramref name="path"/>; throws <see cref="OnnxImportException"/> naming what it cannot map.</summary>
    public static FloatEncoder Import(string path, BertImportOptions? options = null) => Import(OnnxGraph.Load(path), options);

    /// <summary>Imports an already loaded graph; throws <see cref="OnnxImportException"/> naming what it cannot map.</summary>
    public static FloatEncoder Import(OnnxGraph graph, BertImportOptions? options = null)
    {
        string path = graph.Path;
        options ??= new BertImportOptions();
        var log = options.Log ?? (_ => { });
        var m = graph.Model;
        log($"ONNX: opset {m.Opset}, producer '{m.Producer.Trim()}', {m.Nodes.Count} nodes, {m.Initializers.Count} initializers");
        OnnxInterpreter.CheckOps(m);
        string ids = m.Inputs.FirstOrDefault(i => i.Name == "input_ids")?.Name ?? throw new OnnxImportException("no 'input_ids' input: not a BERT-family graph");
        string? mask = m.Inputs.FirstOrDefault(i => i.Name == "attention_mask")?.Name;
        string? types = m.Inputs.FirstOrDefault(i => i.Name == "token_type_ids")?.Name;
        foreach (var i in m.Inputs)
            if (i.Name != ids && i.Name != mask && i.Name != types)
                throw new OnnxImportException($"input '{i.Name}' is not one of input_ids, attention_mask, token_type_ids");

        var dependsOn = Dependencies(m);
        // Sample ids must lie inside the word table: the smallest constant table gathered by input_ids bounds them.
        int rowsBound = m.Nodes.Where(n => n.OpType == "Gather" && n.In(0) is string t && m.Initializers.TryGetValue(t, out var tt) && tt.Rank == 2
                && n.In(1) is string ix && dependsOn.TryGetValue(ix, out var di) && di.Contains(ids))
            .Select(n => (int)m.Initializers[n.Inputs[0]].Shape[0]).DefaultIfEmpty(0).Min();
        if (rowsBound <= 0) throw new OnnxImportException("no word embedding (a Gather from a constant table indexed by input_ids) was found");
        const int sampleLen = 9;
        var sample = SampleIds(sampleLen, 1, rowsBound);
        var env = OnnxInterpreter.Run(m, Feed(m, ids, mask, types, sample, Ones(sampleLen), new long[sampleLen]),
            new Progress("evaluating the ONNX graph (shapes and constants)", m.Nodes.Count, log));
        var constant = new HashSet<string>(env.Keys.Where(v => dependsOn[v].Count == 0), StringComparer.Ordinal);
        bool IsConst(string? v) => v != null && constant.Contains(v);

        // Embedding tables: Gathers from a constant [rows, D] table.
        float[]? word = null, pos = null, type = null;
        int hidden = 0, vocab = 0, maxPos = 0, typeRows = 0;
        foreach (var n in m.Nodes.Where(n => n.OpType == "Gather" && n.In(0) is string t && m.Initializers.ContainsKey(t) && env[t].Rank == 2))
        {
            var table = env[n.Inputs[0]];
            int rows = (int)table.Shape[0], d = (int)table.Shape[1];
            var deps = dependsOn[n.Inputs[1]];
            if (deps.Contains(ids))
            {
                if (word != null) throw new OnnxImportException($"{n.Describe}: a second embedding indexed by input_ids (RoBERTa-style position ids are not supported from ONNX; import the Hugging Face folder with --hf)");
                (word, vocab, hidden) = (table.AsFloat(), rows, d);
            }
            else if (types != null && deps.Contains(types)) (type, typeRows) = (table.AsFloat(), rows);
            else if (deps.Count == 0)
            {
                long[] idx = env[n.Inputs[1]].AsLong();
                if (idx.All(v => v == 0) && rows <= 16) (type, typeRows) = (table.AsFloat(), rows); // token_type_ids defaulted to zeros
                else if (idx.Select((v, k) => v == k).All(b => b)) (pos, maxPos) = (table.AsFloat(), rows);
                else throw new OnnxImportException($"{n.Describe}: a constant-index embedding that is neither positions 0..n-1 nor token type 0");
            }
            else throw new OnnxImportException($"{n.Describe}: embedding indices depend on {string.Join(", ", deps)}");
        }
        if (word == null) throw new OnnxImportException("no word embedding (a Gather from a constant table indexed by input_ids) was found");
        if (pos == null) throw new OnnxImportException("no position embedding (a Gather of positions 0..n-1 from a constant table) was found");
        if (pos.Length != maxPos * hidden || (type != null && type.Length != typeRows * hidden)) throw new OnnxImportException("embedding tables have different widths");

        var events = OnnxVitImporter.CollectEvents(m, env, IsConst, tanhIsActivation: true, (_, _) => { });
        if (events.Count == 0 || events[0] is not OnnxVitImporter.LnEv embLn)
            throw new OnnxImportException($"expected the embedding LayerNorm first, found {(events.Count > 0 ? events[0].Node.Describe : "no events")}");
        var outShape = env[m.Outputs[0].Name].Shape;
        string head = options.Head ?? (outShape.Length == 3 ? Schema.TextHeads.Embedding : Schema.TextHeads.Classification);
        int maxLen = options.MaxLength > 0 ? Math.Min(options.MaxLength, maxPos) : maxPos;
        (FloatEncoder Enc, int End) Assemble(string headKind)
        {
            var e = new FloatEncoder
            {
                Config = new EncoderConfig { Hidden = hidden, SeqLen = sampleLen, NormFirst = false, ClassToken = false, FinalNorm = false, Pooling = headKind switch { Schema.TextHeads.Embedding => Schema.Poolings.Mean, Schema.TextHeads.Plan => Schema.Poolings.Plan, _ => Schema.Poolings.Cls } },
                Text = new TextConfig
                {
                    ModelType = types == null && type == null ? "distilbert" : "bert", VocabSize = vocab, MaxPositions = maxPos, TypeVocabSize = typeRows, Head = headKind,
                },
                Source = $"{Path.GetFileName(path)} (ONNX opset {m.Opset}, {m.Producer.Trim()}{(headKind == Schema.TextHeads.Plan ? "; plan head" : "")})",
            };
            e.Add("embed.word", word, vocab, hidden);
            e.Add("embed.pos", pos, maxPos, hidden);
            if (type != null) e.Add("embed.type", type, typeRows, hidden);
            OnnxVitImporter.AddNorm(e, "embed_ln", embLn, e.Config);
            return (e, OnnxVitImporter.ParseBlocks(events, 1, e));
        }
        void Finish(FloatEncoder e)
        {
            e.Config.SeqLen = maxLen;
            AttachVocab(e, options, path, log);
            var c = e.Config;
            log($"encoder: {c.Layers} blocks, hidden {c.Hidden}, {c.Heads} heads, MLP {c.MlpDim} ({c.Activation}), post-LN, vocab {vocab}, max {c.SeqLen} tokens, head {e.Text!.Head}");
            if (e.Plan != null) log(PlanText.Describe(e.Plan));
            OnnxImportException.Verifying(() => Verify(m, ids, mask, types, e, log));
        }
        FloatEncoder enc;
        int end;
        try
        {
            (enc, end) = Assemble(head);
            ParseHead(events, end, enc);
            Finish(enc);
        }
        catch (OnnxImportException headError) when (options.Head == null)
        {
            // Any head of ordinary ops (masked mean pooling, a projection, L2 normalization, ...) as a graph over
            // the final hidden states and the attention mask.
            log($"the head is not a pooler/classifier or plain hidden states ({headError.Message}); importing it as a head graph");
            (enc, end) = Assemble(Schema.TextHeads.Plan);
            BuildHeadGraph(m, enc, events[end - 1].Node.Outputs[0], ids, mask, types, dependsOn, rowsBound, maxLen, log);
            Finish(enc);
        }
        return enc;
    }

    /// <summary>
    /// The ops after the last block as a plan head graph with inputs (final hidden states [1, L, D], attention mask
    /// [1, L]) at the model's maximum length L: the graph is evaluated once at that length, so every shape is static.
    /// </summary>
    private static void BuildHeadGraph(OnnxModel m, FloatEncoder enc, string stream, string ids, string? mask, string? types,
        Dictionary<string, HashSet<string>> dependsOn, int rowsBound, int maxLen, Action<string> log)
    {
        if (mask == null) throw new OnnxImportException("a head graph needs the attention_mask input (the engine drops masked tokens before the blocks)");
        var env = OnnxInterpreter.Run(m, Feed(m, ids, mask, types, SampleIds(maxLen, 2, rowsBound), Ones(maxLen), new long[maxLen]),
            new Progress($"evaluating the ONNX graph at {maxLen} tokens (head shapes)", m.Nodes.Count, log));
        var constant = new HashSet<string>(env.Keys.Where(v => dependsOn[v].Count == 0), StringComparer.Ordinal);
        bool IsConst(string? v) => v != null && constant.Contains(v);
        string output = m.Outputs[0].Name;
        var (producer, _) = OnnxPlanImporter.Links(m);
        var nodes = OnnxPlanImporter.Slice(m, producer, IsConst, [output], [stream, mask], "head");
        if (nodes.FirstOrDefault(n => n.Inputs.Contains(ids) || (types != null && n.Inputs.Contains(types))) is { } bad)
            throw new OnnxImportException($"{bad.Describe}: the head reads input_ids/token_type_ids; only the final hidden states and the attention mask may reach it");
        if (env[stream].Count != maxLen * enc.Config.Hidden)
            throw new OnnxImportException($"'{stream}' (the last block's output) has shape {env[stream].ShapeText}, not [1, {maxLen}, {enc.Config.Hidden}]");
        enc.Plan = new PlanConfig { Head = new PlanGraphBuilder("plan.head", env, IsConst, enc).Build(nodes, [stream, mask], output) };
        enc.Config.NumClasses = env[output].Count;
        enc.Text!.PoolerActivation = Schema.PoolerActivations.None;
        enc.Labels = FloatEncoder.IndexLabels(enc.Config.NumClasses);
    }

    /// <summary>After the blocks: nothing (embedding), or pooler Linear + tanh/relu + classifier Linear.</summary>
    private static void ParseHead(List<OnnxVitImporter.Ev> ev, int i, FloatEncoder enc)
    {
        var c = enc.Config;
        var t = enc.Text!;
        int d = c.Hidden;
        if (t.Head == Schema.TextHeads.Embedding)
        {
            if (i != ev.Count && ev[i] is not OnnxVitImporter.LinearEv)
                throw new OnnxImportException($"encoder structure not recognized: unexpected {ev[i].Node.Describe} after the last block");
            t.PoolerActivation = Schema.PoolerActivations.None;
            c.NumClasses = d;
            return;
        }
        if (ev.Count - i == 3 && ev[i] is OnnxVitImporter.LinearEv p && p.In == d && p.Out == d && ev[i + 1] is OnnxVitImporter.ActEv { Kind: Schema.PoolerActivations.Tanh or Schema.PoolerActivations.Relu } a
            && ev[i + 2] is OnnxVitImporter.LinearEv h && h.In == d)
        {
            t.PoolerActivation = a.Kind;
            enc.Add("pooler.w", p.W, d, d);
            enc.Add("pooler.b", p.B, d);
            enc.Add("head.w", h.W, h.Out, d);
            enc.Add("head.b", h.B, h.Out);
            c.NumClasses = h.Out;
        }
        else if (ev.Count - i == 1 && ev[i] is OnnxVitImporter.LinearEv h1 && h1.In == d)
        {
            t.PoolerActivation = Schema.PoolerActivations.None;
            enc.Add("head.w", h1.W, h1.Out, d);
            enc.Add("head.b", h1.B, h1.Out);
            c.NumClasses = h1.Out;
        }
        else throw new OnnxImportException($"classification head not recognized after the last block (expected pooler Linear, Tanh/Relu, classifier Linear); found {(i < ev.Count ? ev[i].Node.Describe : "nothing")}");
        enc.Labels = FloatEncoder.IndexLabels(c.NumClasses);
    }

    private static void AttachVocab(FloatEncoder enc, BertImportOptions o, string path, Action<string> log)
    {
        var t = enc.Text!;
        t.LowerCase = o.LowerCase;
        string? vocab = o.VocabPath ?? (Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "vocab.txt") is var v && File.Exists(v) ? v : null);
        if (vocab == null)
        {
            t.Tokenizer = Schema.Tokenizers.None;
            log("note: no vocab.txt given (--vocab) or next to the model; the model takes token ids (run --ids)");
            return;
        }
        enc.Vocab = Data.InputFiles.ReadAllBytes(vocab, Data.InputFiles.MaxTextBytes, "vocabulary");
        int lines;
        try { lines = enc.CheckVocab(); }
        catch (InvalidDataException e) { throw new OnnxImportException($"{vocab}: {e.Message}"); }
        log($"tokenizer: WordPiece from {vocab}, {lines} tokens, lower-case {t.LowerCase}");
    }

    /// <summary>For every value, the graph inputs it depends on.</summary>
    private static Dictionary<string, HashSet<string>> Dependencies(OnnxModel m)
    {
        var deps = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var i in m.Inputs) deps[i.Name] = [i.Name];
        foreach (var k in m.Initializers.Keys) deps.TryAdd(k, []);
        foreach (var n in m.Nodes)
        {
            var d = new HashSet<string>(StringComparer.Ordinal);
            if (n.OpType != "Shape") // a shape depends on no input's values
                foreach (var i in n.Inputs)
                    if (i.Length > 0 && deps.TryGetValue(i, out var di)) d.UnionWith(di);
            foreach (var o in n.Outputs) deps[o] = d;
        }
        return deps;
    }

    /// <summary>Seeded ids in the upper half of [0, vocab) (away from the special tokens at the start of most vocabularies).</summary>
    private static long[] SampleIds(int len, int seed, int vocab)
    {
        var r = new Random(seed);
        var v = new long[len];
        for (int i = 0; i < len; i++) v[i] = vocab / 2 + r.Next(Math.Max(1, vocab - vocab / 2));
        return v;
    }

    private static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

    private static Dictionary<string, OTensor> Feed(OnnxModel m, string ids, string? mask, string? types, long[] idv, long[] maskv, long[] typev)
    {
        long[] shape = [1, idv.Length];
        var feed = new Dictionary<string, OTensor> { [ids] = new OTensor(shape, idv) };
        if (mask != null) feed[mask] = new OTensor(shape, maskv);
        if (types != null) feed[types] = new OTensor(shape, typev);
        return feed;
    }

    /// <summary>FP32 engine vs the graph on an unpadded and a right-padded sample (types 0/1 when the model has two).</summary>
    private static void Verify(OnnxModel m, string ids, string? mask, string? types, FloatEncoder enc, Action<string> log)
    {
        using var model = Engine.Model.Load(enc.ToFp32Writer().ToArray());
        using var session = model.CreateSession();
        int d = enc.Config.Hidden, vocab = enc.Text!.VocabSize;
        float worst = 0;
        int cases = 0;
        foreach (var (len, pad) in new[] { (12, 0), (16, mask != null ? 5 : 0) })
        {
            long[] idv = SampleIds(len, len, vocab);
            long[] maskv = Ones(len), typev = new long[len];
            for (int i = len - pad; i < len; i++) (maskv[i], idv[i]) = (0, 0);
            if (enc.Text.TypeVocabSize > 1 && types != null) for (int i = len / 2; i < len - pad; i++) typev[i] = 1;
            var env = OnnxInterpreter.Run(m, Feed(m, ids, mask, types, idv, maskv, typev), new Progress("verifying against the ONNX graph", m.Nodes.Count, log));
            var y = env[m.Outputs[0].Name];
            float[] expected;
            if (enc.Text.Head == Schema.TextHeads.Embedding)
            {
                if (y.Rank != 3 || y.Shape[2] != d) throw new OnnxImportException($"graph output '{m.Outputs[0].Name}' is {y.ShapeText}; an embedding model should output hidden states [batch, seq, {d}]");
                float[] h = y.AsFloat();
                expected = new float[d];
                int kept = len - pad;
                for (int r = 0; r < kept; r++) for (int j = 0; j < d; j++) expected[j] += h[r * d + j] / kept;
            }
            else expected = y.AsFloat();
            var got = new float[model.OutputLength];
            if (expected.Length != got.Length) throw new OnnxImportException($"graph output '{m.Outputs[0].Name}' has {expected.Length} values, the encoder {got.Length}");
            session.RunTokens(idv.Select(v => (int)v).ToArray(), maskv.Select(v => (int)v).ToArray(), typev.Select(v => (int)v).ToArray(), got);
            float scale = Math.Max(1f, expected.Max(MathF.Abs));
            for (int j = 0; j < got.Length; j++) worst = Math.Max(worst, MathF.Abs(got[j] - expected[j]) / scale);
            cases++;
        }
        log($"verified against the ONNX graph on {cases} inputs (one right-padded): max relative output difference {worst:E2}");
        if (!(worst <= 1e-3f))
            throw new OnnxImportException($"the recognized encoder does not reproduce the ONNX graph (max relative difference {worst:E2}); the model uses a structure this importer does not handle");
    }
}
