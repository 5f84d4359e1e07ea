using EdgeQuant.Format;

namespace EdgeQuant.Converter.Onnx;

/// <summary>
/// Imports an ONNX transformer encoder as a plan: the typed blocks are recognized by pattern where they sit (the first
/// attention Softmax anchors the first block; pre-LN when the LayerNorm before the Q/K/V projections reads a value that
/// a residual Add also reads), the ops before them become the stem graph (input → token stream) and the ops after them
/// the head graph (stream → output). Shape plumbing is folded (every value's shape is known at conversion), and
/// constants become tensors "plan.stem.N" / "plan.head.N".
/// </summary>
internal static class OnnxPlanImporter
{
    private static readonly HashSet<string> ShapeOnly = new(StringComparer.Ordinal) { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout" };

    public static FloatEncoder Build(OnnxModel m, Dictionary<string, OTensor> env, HashSet<string> constant, string inputName,
        int ch, int height, int width, VitImportOptions options, string path)
    {
        bool IsConst(string? v) => v != null && constant.Contains(v);
        var (producer, consumers) = Links(m);
        List<ONode> Consumers(string v) => consumers.GetValueOrDefault(v) ?? [];

        var events = OnnxVitImporter.CollectEvents(m, env, IsConst, tanhIsActivation: true, (_, _) => { });
        int sm = events.FindIndex(e => e is OnnxVitImporter.SoftmaxEv);
        if (sm < 0) throw new OnnxImportException("no attention Softmax was found: the graph has no transformer block");
        int q;
        if (sm >= 1 && events[sm - 1] is OnnxVitImporter.LinearEv f && f.Out == 3 * f.In) q = sm - 1;
        else if (sm >= 3 && events[(sm - 3)..sm].All(e => e is OnnxVitImporter.LinearEv l && l.Out == l.In)) q = sm - 3;
        else throw new OnnxImportException($"{events[sm].Node.Describe}: no fused QKV projection or three Q/K/V projections before the first attention Softmax");
        var qkv = (OnnxVitImporter.LinearEv)events[q];
        int d = qkv.In;
        bool pre = q > 0 && events[q - 1] is OnnxVitImporter.LnEv ln0 && Consumers(ln0.Node.Inputs[0]).Any(n => n.OpType == "Add");
        string streamIn = pre ? events[q - 1].Node.Inputs[0] : qkv.Node.Inputs[0];
        int start = pre ? q - 1 : q;
        int seq = env[streamIn].Count / d;
        if (seq < 1 || seq * d != env[streamIn].Count)
            throw new OnnxImportException($"'{streamIn}' (the stream entering the first block) has shape {env[streamIn].ShapeText}, not [tokens, {d}]");

        var enc = new FloatEncoder
        {
            Config = new EncoderConfig { Hidden = d, SeqLen = seq, NormFirst = pre, ClassToken = false, FinalNorm = false, Pooling = Schema.Poolings.Plan },
            Image = new ImageConfig
            {
                Channels = ch, Height = height, Width = width, PatchSize = 0, Scale = options.PixelScale,
                Mean = options.Mean ?? new float[ch], Std = options.Std ?? Enumerable.Repeat(1f, ch).ToArray(),
            },
            Labels = options.Labels,
            Source = $"{Path.GetFileName(path)} (ONNX opset {m.Opset}, {m.Producer.Trim()}; plan)",
            Plan = new PlanConfig(),
        };
        int end = OnnxVitImporter.ParseBlocks(events, start, enc);
        if (!Schema.Activations.All.Contains(enc.Config.Activation))
            throw new OnnxImportException($"block MLP activation '{enc.Config.Activation}' is not supported (exact-erf GELU, ReLU)");

        // The stream leaving the last block: post-LN, the block's last LayerNorm; pre-LN, the residual Add after fc2.
        string streamOut = events[end - 1].Node.Outputs[0];
        if (pre)
        {
            streamOut = Follow(streamOut, Consumers);
            var bias = Consumers(streamOut).FirstOrDefault(n => n.OpType == "Add" && n.Inputs.Any(IsConst));
            if (bias != null && events[end - 1].Node.OpType == "MatMul") streamOut = Follow(bias.Outputs[0], Consumers);
            var residual = Consumers(streamOut).FirstOrDefault(n => n.OpType == "Add" && !n.Inputs.Any(IsConst))
                ?? throw new OnnxImportException($"{events[end - 1].Node.Describe}: no residual Add after the last block's MLP");
            streamOut = residual.Outputs[0];
        }
        if (env[streamOut].Count != seq * d)
            throw new OnnxImportException($"'{streamOut}' (the stream leaving the last block) has shape {env[streamOut].ShapeText}, not [{seq}, {d}]");

        string output = m.Outputs[0].Name;
        var stemNodes = Slice(m, producer, IsConst, [streamIn], [inputName], "stem");
        var headNodes = Slice(m, producer, IsConst, [output], [streamOut], "head");
        if (headNodes.Any(n => n.Inputs.Contains(inputName)))
            throw new OnnxImportException("the head reads the model input directly; only the stream after the last block may reach it");
        enc.Plan!.Stem = new PlanGraphBuilder("plan.stem", env, IsConst, enc).Build(stemNodes, inputName, streamIn);
        enc.Plan.Head = new PlanGraphBuilder("plan.head", env, IsConst, enc).Build(headNodes, streamOut, output);
        int classes = env[output].Count;
        enc.Config.NumClasses = classes;
        if (enc.Labels.Length == 0) enc.Labels = FloatEncoder.IndexLabels(classes);
        if (enc.Labels.Length != classes) throw new OnnxImportException($"{enc.Labels.Length} labels given, the output has {classes} values");
        return enc;
    }

    /// <summary>The node producing each value and the nodes consuming it; a value produced twice is an error naming the node.</summary>
    internal static (Dictionary<string, ONode> Producer, Dictionary<string, List<ONode>> Consumers) Links(OnnxModel m)
    {
        var consumers = new Dictionary<string, List<ONode>>(StringComparer.Ordinal);
        var producer = new Dictionary<string, ONode>(StringComparer.Ordinal);
        foreach (var n in m.Nodes)
        {
            foreach (var i in n.Inputs)
                if (i.Length > 0) (consumers.TryGetValue(i, out var l) ? l : consumers[i] = []).Add(n);
            foreach (var o in n.Outputs)
                if (o.Length > 0 && !producer.TryAdd(o, n)) throw new OnnxImportException($"{n.Describe}: value '{o}' is produced twice");
        }
        return (producer, consumers);
    }

    /// <summary>Follows a value through single-consumer shape-only nodes (Reshape, Identity, ...).</summary>
    private static string Follow(string v, Func<string, List<ONode>> consumers)
    {
        for (int guard = 0; guard < 16; guard++)
        {
            var c = consumers(v);
            if (c.Count != 1 || !ShapeOnly.Contains(c[0].OpType)) return v;
            v = c[0].Outputs[0];
        }
        return v;
    }

    /// <summary>The non-constant nodes computing <paramref name="targets"/> from <paramref name="stops"/>, in graph order.</summary>
    internal static List<ONode> Slice(OnnxModel m, Dictionary<string, ONode> producer, Func<string?, bool> isConst, string[] targets, string[] stops, string what)
    {
        var need = new HashSet<ONode>();
        var stack = new Stack<string>(targets);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (stack.Count > 0)
        {
            string v = stack.Pop();
            if (v.Length == 0 || !seen.Add(v) || stops.Contains(v) || isConst(v)) continue;
            if (!producer.TryGetValue(v, out var n))
                throw new OnnxImportException($"the {what} needs '{v}', which is neither computed from {string.Join(" or ", stops.Select(s => $"'{s}'"))} nor a constant");
            if (need.Add(n)) foreach (var i in n.Inputs) stack.Push(i);
        }
        return m.Nodes.Where(need.Contains).ToList();
    }
}
