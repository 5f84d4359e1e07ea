using EdgeQuant.Format;

namespace EdgeQuant.Converter.Onnx;

/// <summary>Options of the ONNX ViT import.</summary>
public sealed class VitImportOptions
{
    /// <summary>Multiplier applied to 8-bit pixels to get the ONNX input (default 1/255).</summary>
    public float PixelScale { get; set; } = 1f / 255f;
    /// <summary>Per-channel mean subtracted after scaling (default 0).</summary>
    public float[]? Mean { get; set; }
    /// <summary>Per-channel std (default 1).</summary>
    public float[]? Std { get; set; }
    /// <summary>Class labels.</summary>
    public string[] Labels { get; set; } = [];
    /// <summary>Images [N, C·H·W] in the ONNX input convention used to verify the import (random ones are added).</summary>
    public float[][] VerifyInputs { get; set; } = [];
    /// <summary>Receives progress lines.</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>
/// Imports a PyTorch-exported ONNX ViT into a <see cref="FloatEncoder"/>: evaluates the graph once to fold the
/// shape plumbing, recognizes patch embedding, class token, positions, LayerNorms, linears, softmax and activation in
/// execution order, then checks the resulting FP32 engine model against the ONNX graph on sample inputs.
/// </summary>
public static class OnnxVitImporter
{
    internal abstract record Ev(ONode Node);
    internal sealed record LnEv(ONode Node, float[] Gamma, float[] Beta, float Eps) : Ev(Node);
    internal sealed record LinearEv(ONode Node, float[] W, float[] B, int Out, int In) : Ev(Node); // W [out, in]
    internal sealed record SoftmaxEv(ONode Node, long[] Shape) : Ev(Node);
    internal sealed record ActEv(ONode Node, string Kind) : Ev(Node);

    /// <summary>Imports <paramref name="path"/>; throws <see cref="OnnxImportException"/> naming what it cannot map.</summary>
    public static FloatEncoder Import(string path, VitImportOptions? options = null) => Import(OnnxGraph.Load(path), options);

    /// <summary>Imports an already loaded graph; throws <see cref="OnnxImportException"/> naming what it cannot map.</summary>
    public static FloatEncoder Import(OnnxGraph graph, VitImportOptions? options = null)
    {
        string path = graph.Path;
        options ??= new VitImportOptions();
        var log = options.Log ?? (_ => { });
        var m = graph.Model;
        log($"ONNX: opset {m.Opset}, producer '{m.Producer.Trim()}', {m.Nodes.Count} nodes, {m.Initializers.Count} initializers");
        OnnxInterpreter.CheckOps(m);
        if (m.Inputs.Count != 1) throw new OnnxImportException($"a ViT has one image input; this graph has {m.Inputs.Count} ({string.Join(", ", m.Inputs.Select(i => i.Name))})");
        if (m.Outputs.Count < 1) throw new OnnxImportException("graph has no output");
        var input = m.Inputs[0];
        if (input.Dims.Length != 4 || input.Dims[1] <= 0 || input.Dims[2] <= 0 || input.Dims[3] <= 0)
            throw new OnnxImportException($"input '{input.Name}' must be [batch, C, H, W] with static C, H, W; got [{string.Join(", ", input.Dims)}]");
        if (input.Dims[1] > 4 || input.Dims[2] > Engine.Model.MaxImageSide || input.Dims[3] > Engine.Model.MaxImageSide)
            throw new OnnxImportException($"input '{input.Name}' is [{string.Join(", ", input.Dims)}]; this build takes 1 to 4 channels and at most {Engine.Model.MaxImageSide} pixels a side");
        int ch = (int)input.Dims[1], height = (int)input.Dims[2], width = (int)input.Dims[3];

        var rng = new Random(1234);
        float[] sample = new float[ch * height * width];
        for (int i = 0; i < sample.Length; i++) sample[i] = (float)rng.NextDouble();
        var env = OnnxInterpreter.Run(m, new() { [input.Name] = new OTensor([1, ch, height, width], sample) },
            new Progress("evaluating the ONNX graph (shapes and constants)", m.Nodes.Count, log));
        var constant = ConstantValues(m, input.Name);

        FloatEncoder enc;
        try
        {
            // The fixed template (conv stem, class token, positions, cls/mean pooling): its int8 stem and head are the fastest.
            enc = Build(m, env, constant, ch, height, width, options, path);
            LogEncoder(enc, log);
            OnnxImportException.Verifying(() => Verify(m, input.Name, enc, options, sample, log));
        }
        catch (OnnxImportException templateError)
        {
            log($"the conv-stem template does not fit ({templateError.Message}); importing as a plan (stem graph + blocks + head graph)");
            enc = OnnxPlanImporter.Build(m, env, constant, input.Name, ch, height, width, options, path);
            LogEncoder(enc, log);
            log(PlanText.Describe(enc.Plan!));
            OnnxImportException.Verifying(() => Verify(m, input.Name, enc, options, sample, log));
        }
        return enc;
    }

    private static void LogEncoder(FloatEncoder enc, Action<string> log) =>
        log($"encoder: {enc.Config.Layers} blocks, hidden {enc.Config.Hidden}, {enc.Config.Heads} heads, MLP {enc.Config.MlpDim} ({enc.Config.Activation}), " +
            $"{(enc.Config.NormFirst ? "pre" : "post")}-LN, seq {enc.Config.SeqLen}, " +
            (enc.Plan != null ? "plan stem/head" : $"patch {enc.Image!.PatchSize}") + $", {enc.Config.NumClasses} classes");

    /// <summary>Values that do not depend on the input's data (only on its fixed shape): foldable.</summary>
    private static HashSet<string> ConstantValues(OnnxModel m, string inputName)
    {
        var c = new HashSet<string>(m.Initializers.Keys, StringComparer.Ordinal);
        foreach (var n in m.Nodes)
        {
            bool isConst = n.OpType is "Constant" or "Shape" ||
                n.Inputs.All(i => i.Length == 0 || (c.Contains(i) && i != inputName));
            if (isConst) foreach (var o in n.Outputs) c.Add(o);
        }
        return c;
    }

    private static FloatEncoder Build(OnnxModel m, Dictionary<string, OTensor> env, HashSet<string> constant, int ch, int height, int width,
        VitImportOptions options, string path)
    {
        bool IsConst(string? v) => v != null && constant.Contains(v);

        // Patch embedding.
        var convs = m.Nodes.Where(n => n.OpType == "Conv").ToList();
        if (convs.Count != 1) throw new OnnxImportException($"expected one patch-embedding Conv, found {convs.Count}");
        var conv = convs[0];
        if (!IsConst(conv.In(1))) throw new OnnxImportException($"{conv.Describe}: weight is not constant");
        var cw = env[conv.Inputs[1]];
        int hidden = (int)cw.Shape[0], patch = (int)cw.Shape[2];
        long[] strides = conv.Ints("strides") ?? [1, 1];
        long[] pads = conv.Ints("pads") ?? [0, 0, 0, 0];
        if (cw.Shape[2] != cw.Shape[3] || strides.Any(s => s != patch) || pads.Any(p => p != 0) || cw.Shape[1] != ch)
            throw new OnnxImportException($"{conv.Describe}: not a patch embedding (kernel {cw.ShapeText}, strides [{string.Join(", ", strides)}], pads [{string.Join(", ", pads)}])");
        if (height % patch != 0 || width % patch != 0) throw new OnnxImportException($"{conv.Describe}: image {height}x{width} is not a multiple of patch {patch}");
        int patches = (height / patch) * (width / patch);
        float[] convBias = conv.In(2) is string cb ? env[cb].AsFloat() : new float[hidden];

        // Events in execution order; the ViT's class-token Concat and position Add are recognized before the first block.
        float[]? cls = null, pos = null;
        var events = CollectEvents(m, env, IsConst, tanhIsActivation: false, (n, count) =>
        {
            if (count != 0) return;
            if (n.OpType == "Concat" && cls == null)
            {
                var outShape = env[n.Outputs[0]].Shape;
                var cin = n.Inputs.FirstOrDefault(i => IsConst(i) && env[i].Shape.Length == 3 && env[i].Shape[^1] == hidden && env[i].Shape[1] == 1);
                if (cin != null && outShape.Length == 3 && outShape[1] == patches + 1)
                {
                    if (n.Inputs[0] != cin) throw new OnnxImportException($"{n.Describe}: class token is not prepended");
                    cls = env[cin].AsFloat()[..hidden];
                }
            }
            else if (n.OpType == "Add" && pos == null)
            {
                string? c = IsConst(n.In(0)) ? n.In(0) : IsConst(n.In(1)) ? n.In(1) : null;
                if (c != null && env[c].Count % hidden == 0 && env[c].Count / hidden is int rows && (rows == patches || rows == patches + 1) && env[n.Outputs[0]].Shape[^1] == hidden)
                    pos = env[c].AsFloat();
            }
        });
        if (pos == null) throw new OnnxImportException("no learned position embedding (a constant [1, T, D] added to the tokens) was found");
        int seq = patches + (cls != null ? 1 : 0);
        if (pos.Length != seq * hidden) throw new OnnxImportException($"position embedding has {pos.Length / hidden} rows, expected {seq}");

        var enc = new FloatEncoder
        {
            Config = new EncoderConfig { Hidden = hidden, SeqLen = seq, ClassToken = cls != null, Pooling = cls != null ? Schema.Poolings.Cls : Schema.Poolings.Mean },
            Image = new ImageConfig
            {
                Channels = ch, Height = height, Width = width, PatchSize = patch, Scale = options.PixelScale,
                Mean = options.Mean ?? new float[ch], Std = options.Std ?? Enumerable.Repeat(1f, ch).ToArray(),
            },
            Labels = options.Labels,
            Source = $"{Path.GetFileName(path)} (ONNX opset {m.Opset}, {m.Producer.Trim()})",
        };
        enc.Add("embed.patch.w", cw.AsFloat(), hidden, ch * patch * patch); // [D, C, p, p] = [D, C·p·p]
        enc.Add("embed.patch.b", convBias, hidden);
        if (cls != null) enc.Add("embed.cls", cls, hidden);
        enc.Add("embed.pos", pos, seq, hidden);
        ParseBlocks(events, enc);
        return enc;
    }

    /// <summary>
    /// LayerNorm, linear (MatMul/Gemm with a constant weight, plus its bias Add), Softmax and activation events in
    /// execution order; any other non-constant node goes to <paramref name="other"/> (with the event count so far).
    /// </summary>
    internal static List<Ev> CollectEvents(OnnxModel m, Dictionary<string, OTensor> env, Func<string?, bool> IsConst, bool tanhIsActivation, Action<ONode, int> other)
    {
        // Consumers of each value, to find a linear's bias Add.
        var consumers = new Dictionary<string, List<ONode>>(StringComparer.Ordinal);
        foreach (var n in m.Nodes)
            foreach (var i in n.Inputs)
                if (i.Length > 0) (consumers.TryGetValue(i, out var l) ? l : consumers[i] = []).Add(n);
        var events = new List<Ev>();
        var usedAdds = new HashSet<ONode>();
        foreach (var n in m.Nodes)
        {
            if (IsConst(n.Outputs.FirstOrDefault())) continue;
            switch (n.OpType)
            {
                case "LayerNormalization":
                    if (!IsConst(n.In(1))) throw new OnnxImportException($"{n.Describe}: scale is not constant");
                    var g = env[n.Inputs[1]].AsFloat();
                    events.Add(new LnEv(n, g, n.In(2) is string bn ? env[bn].AsFloat() : new float[g.Length], n.Float("epsilon", 1e-5f)));
                    break;
                case "MatMul" when IsConst(n.In(1)) && env[n.Inputs[1]].Rank == 2 && !IsConst(n.In(0)):
                    {
                        var w = env[n.Inputs[1]];
                        int k = (int)w.Shape[0], o = (int)w.Shape[1];
                        float[] wt = TransposeKN(w.AsFloat(), k, o);
                        float[] b = new float[o];
                        foreach (var add in consumers.GetValueOrDefault(n.Outputs[0]) ?? [])
                        {
                            if (add.OpType != "Add") continue;
                            string other2 = add.Inputs[0] == n.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
                            if (IsConst(other2) && env[other2].Count == o) { b = env[other2].AsFloat(); usedAdds.Add(add); break; }
                        }
                        events.Add(new LinearEv(n, wt, b, o, k));
                        break;
                    }
                case "Gemm" when IsConst(n.In(1)):
                    {
                        var w = env[n.Inputs[1]];
                        if (n.Int("transA", 0) != 0) throw new OnnxImportException($"{n.Describe}: transA is not supported");
                        float alpha = n.Float("alpha", 1), beta = n.Float("beta", 1);
                        bool transB = n.Int("transB", 0) != 0;
                        int o = (int)(transB ? w.Shape[0] : w.Shape[1]), k = (int)(transB ? w.Shape[1] : w.Shape[0]);
                        float[] wt = transB ? (float[])w.AsFloat().Clone() : TransposeKN(w.AsFloat(), k, o);
                        for (int i = 0; i < wt.Length; i++) wt[i] *= alpha;
                        float[] b = new float[o];
                        if (n.In(2) is string c)
                        {
                            if (!IsConst(c) || env[c].Count != o) throw new OnnxImportException($"{n.Describe}: bias must be a constant of {o} values");
                            b = env[c].AsFloat().Select(v => v * beta).ToArray();
                        }
                        events.Add(new LinearEv(n, wt, b, o, k));
                        break;
                    }
                case "Softmax": events.Add(new SoftmaxEv(n, env[n.Inputs[0]].Shape)); break;
                case "Erf": case "Gelu": events.Add(new ActEv(n, Schema.Activations.Gelu)); break;
                case "Relu": events.Add(new ActEv(n, Schema.Activations.Relu)); break;
                case "Tanh" when tanhIsActivation: events.Add(new ActEv(n, Schema.PoolerActivations.Tanh)); break;
                case "Tanh": throw new OnnxImportException($"{n.Describe}: tanh activations (tanh-approximated GELU) are not supported; export with exact erf GELU");
                default:
                    if (!usedAdds.Contains(n)) other(n, events.Count);
                    break;
            }
        }
        return events;
    }

    private static float[] TransposeKN(float[] w, int k, int o)
    {
        var t = new float[w.Length]; // [o, k]
        for (int i = 0; i < k; i++)
            for (int j = 0; j < o; j++) t[j * k + i] = w[i * o + j];
        return t;
    }

    private static void ParseBlocks(List<Ev> ev, FloatEncoder enc)
    {
        if (ev.Count == 0) throw new OnnxImportException("no encoder blocks found");
        var c = enc.Config;
        c.NormFirst = ev[0] is LnEv;
        int i = ParseBlocks(ev, 0, enc);
        int d = c.Hidden;
        T Expect<T>(string what) where T : Ev
        {
            if (i < ev.Count && ev[i] is T t) { i++; return t; }
            string got = i < ev.Count ? ev[i].Node.Describe : "end of graph";
            throw new OnnxImportException($"encoder structure not recognized: expected {what}, found {got}");
        }
        c.FinalNorm = i < ev.Count && ev[i] is LnEv;
        if (c.FinalNorm) AddNorm(enc, "final_ln", Expect<LnEv>("final LayerNorm"), c);
        var head = Expect<LinearEv>("classification head");
        if (head.In != d) throw new OnnxImportException($"{head.Node.Describe}: head takes {head.In} inputs, expected {d}");
        if (i != ev.Count) throw new OnnxImportException($"encoder structure not recognized: unexpected {ev[i].Node.Describe} after the head");
        enc.Add("head.w", head.W, head.Out, d);
        enc.Add("head.b", head.B, head.Out);
        c.NumClasses = head.Out;
        if (enc.Labels.Length == 0) enc.Labels = FloatEncoder.IndexLabels(head.Out);
        if (enc.Labels.Length != head.Out) throw new OnnxImportException($"{enc.Labels.Length} labels given, the head has {head.Out} outputs");
    }

    /// <summary>
    /// Encoder blocks from event <paramref name="start"/> on (pre-LN if <see cref="EncoderConfig.NormFirst"/>): fills
    /// blocks.N.* and Layers/Heads/MlpDim/Activation; returns the index of the first event after the last block.
    /// A block is recognized by its attention Softmax within its first five events.
    /// </summary>
    internal static int ParseBlocks(List<Ev> ev, int start, FloatEncoder enc)
    {
        var c = enc.Config;
        int d = c.Hidden, i = start;
        T Expect<T>(string what) where T : Ev
        {
            if (i < ev.Count && ev[i] is T t) { i++; return t; }
            string got = i < ev.Count ? ev[i].Node.Describe : "end of graph";
            throw new OnnxImportException($"encoder structure not recognized: expected {what}, found {got}");
        }
        LinearEv Linear(string what, int outDim, int inDim)
        {
            var l = Expect<LinearEv>(what);
            if (l.Out != outDim || l.In != inDim)
                throw new OnnxImportException($"{l.Node.Describe}: {what} is [{l.In} -> {l.Out}], expected [{inDim} -> {outDim}]");
            return l;
        }
        int layers = 0, mlp = -1, heads = -1;
        string act = "";
        bool BlockAt(int j)
        {
            for (int k = j; k < Math.Min(ev.Count, j + 5); k++)
                if (ev[k] is SoftmaxEv) return true;
            return false;
        }
        while (BlockAt(i))
        {
            // A block starts with LN (pre-LN) or with the QKV projection (post-LN).
            string p = $"blocks.{layers}.";
            if (c.NormFirst) AddNorm(enc, p + "ln1", Expect<LnEv>("attention LayerNorm"), c);
            float[] qkvW, qkvB;
            var first = Expect<LinearEv>("QKV projection");
            if (first.Out == 3 * d && first.In == d) (qkvW, qkvB) = (first.W, first.B);
            else if (first.Out == d && first.In == d)
            {
                var k = Linear("key projection", d, d);
                var v = Linear("value projection", d, d);
                qkvW = [.. first.W, .. k.W, .. v.W];
                qkvB = [.. first.B, .. k.B, .. v.B];
            }
            else throw new OnnxImportException($"{first.Node.Describe}: QKV projection is [{first.In} -> {first.Out}], expected [{d} -> {3 * d}] or three [{d} -> {d}]");
            enc.Add(p + "qkv.w", qkvW, 3 * d, d);
            enc.Add(p + "qkv.b", qkvB, 3 * d);
            var sm = Expect<SoftmaxEv>("attention Softmax");
            if (sm.Shape.Length < 3 || sm.Shape[^1] != c.SeqLen || sm.Shape[^2] != c.SeqLen)
                throw new OnnxImportException($"{sm.Node.Describe}: attention scores of shape [{string.Join(", ", sm.Shape)}] do not match sequence length {c.SeqLen}");
            int h = (int)OTensor.Product(sm.Shape[..^2]);
            if (heads < 0) heads = h;
            else if (heads != h) throw new OnnxImportException($"{sm.Node.Describe}: {h} heads, earlier blocks had {heads}");
            if (d % heads != 0) throw new OnnxImportException($"{sm.Node.Describe}: hidden {d} not divisible by {heads} heads");
            var o = Linear("attention output projection", d, d);
            enc.Add(p + "out.w", o.W, d, d);
            enc.Add(p + "out.b", o.B, d);
            AddNorm(enc, p + (c.NormFirst ? "ln2" : "ln1"), Expect<LnEv>(c.NormFirst ? "MLP LayerNorm" : "attention LayerNorm"), c);
            var f1 = Expect<LinearEv>("first MLP linear");
            if (f1.In != d) throw new OnnxImportException($"{f1.Node.Describe}: first MLP linear takes {f1.In} inputs, expected {d}");
            if (mlp < 0) mlp = f1.Out;
            else if (mlp != f1.Out) throw new OnnxImportException($"{f1.Node.Describe}: MLP size {f1.Out} differs from earlier blocks ({mlp})");
            var a = Expect<ActEv>("MLP activation (Erf/Gelu/Relu)");
            if (act.Length == 0) act = a.Kind;
            else if (act != a.Kind) throw new OnnxImportException($"{a.Node.Describe}: activation {a.Kind} differs from earlier blocks ({act})");
            var f2 = Linear("second MLP linear", d, mlp);
            enc.Add(p + "fc1.w", f1.W, mlp, d);
            enc.Add(p + "fc1.b", f1.B, mlp);
            enc.Add(p + "fc2.w", f2.W, d, mlp);
            enc.Add(p + "fc2.b", f2.B, d);
            if (!c.NormFirst) AddNorm(enc, p + "ln2", Expect<LnEv>("MLP LayerNorm"), c);
            layers++;
        }
        if (layers == 0) throw new OnnxImportException("no encoder blocks found");
        c.Layers = layers;
        c.Heads = heads;
        c.MlpDim = mlp;
        c.Activation = act;
        return i;
    }

    internal static void AddNorm(FloatEncoder enc, string prefix, LnEv ln, EncoderConfig c)
    {
        if (ln.Gamma.Length != c.Hidden) throw new OnnxImportException($"{ln.Node.Describe}: normalizes {ln.Gamma.Length} values, expected {c.Hidden}");
        c.LayerNormEps = ln.Eps;
        enc.Add(prefix + ".g", ln.Gamma, c.Hidden);
        enc.Add(prefix + ".b", ln.Beta, c.Hidden);
    }

    /// <summary>Runs the FP32 engine model and the ONNX graph on the same inputs; they must agree.</summary>
    private static void Verify(OnnxModel m, string inputName, FloatEncoder enc, VitImportOptions options, float[] sample, Action<string> log)
    {
        var inputs = new List<float[]> { sample };
        inputs.AddRange(options.VerifyInputs.Take(3));
        using var model = Engine.Model.Load(enc.ToFp32Writer().ToArray());
        using var session = model.CreateSession();
        var im = enc.Image!;
        float worst = 0;
        foreach (var x in inputs)
        {
            var env = OnnxInterpreter.Run(m, new() { [inputName] = new OTensor([1, im.Channels, im.Height, im.Width], x) },
                new Progress("verifying against the ONNX graph", m.Nodes.Count, log));
            float[] expected = env[m.Outputs[0].Name].AsFloat();
            var got = new float[enc.Config.NumClasses];
            session.Run(x, got);
            if (expected.Length != got.Length) throw new OnnxImportException($"graph output '{m.Outputs[0].Name}' has {expected.Length} values, the encoder {got.Length}");
            float scale = Math.Max(1f, expected.Max(MathF.Abs));
            for (int j = 0; j < got.Length; j++) worst = Math.Max(worst, MathF.Abs(got[j] - expected[j]) / scale);
        }
        if (!(worst <= 1e-3f))
            throw new OnnxImportException($"the recognized encoder does not reproduce the ONNX graph (max relative logit difference {worst:E2}); the model uses a structure this importer does not handle");
        log($"verified against the ONNX graph on {inputs.Count} inputs: max relative logit difference {worst:E2}");
    }
}
