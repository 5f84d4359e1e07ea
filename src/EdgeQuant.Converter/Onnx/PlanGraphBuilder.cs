using EdgeQuant.Format;

namespace EdgeQuant.Converter.Onnx;

/// <summary>
/// Turns a slice of ONNX nodes into an <see cref="OpGraph"/> of the plan: shapes from the evaluated graph, constant
/// operands as tensors "<c>prefix</c>.N" added to the encoder, shape-only plumbing as Copy, MatMul/Gemm with a constant
/// weight as Linear (weight written [N, K], so nothing is repacked at load), attributes normalized.
/// </summary>
internal sealed class PlanGraphBuilder(string prefix, Dictionary<string, OTensor> env, Func<string?, bool> isConst, FloatEncoder enc)
{
    private readonly List<GraphValue> _values = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<GraphOp> _ops = [];
    private int _constants;

    /// <summary>Supported ONNX op types (anything else is an error naming the node).</summary>
    public static readonly string[] Supported =
    [
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "MatMul", "Gemm", "Conv", "Add", "Sub", "Mul", "Div", "Pow",
        "Equal", "Max", "Min", "Where", "Sqrt", "Erf", "Tanh", "Sigmoid", "Relu", "Neg", "Gelu", "Abs", "Exp", "Reciprocal", "Clip", "Cast",
        "Transpose", "Concat", "Slice", "Split", "Gather", "Expand", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceL2", "LayerNormalization", "Softmax",
    ];

    public OpGraph Build(List<ONode> nodes, string input, string output) => Build(nodes, [input], output);

    /// <summary>The graph of <paramref name="nodes"/> from <paramref name="inputs"/> (each a computed value or graph input) to <paramref name="output"/>.</summary>
    public OpGraph Build(List<ONode> nodes, string[] inputs, string output)
    {
        int[] ins = inputs.Select(i => AddValue(i, "")).ToArray();
        int inIdx = ins[0];
        foreach (var n in nodes) Emit(n);
        if (!_index.TryGetValue(output, out int outIdx)) throw new OnnxImportException($"'{output}' is not computed by the {prefix} graph");
        if (outIdx == inIdx)
        {
            // An empty graph (the stream is the output as it is): one copy keeps input and output distinct.
            outIdx = AddValue(output + ".copy", "", env[output].Shape);
            _ops.Add(new GraphOp { Op = OpKinds.Copy, Node = "identity", Inputs = [inIdx], Output = outIdx });
        }
        return new OpGraph { Values = [.. _values], Ops = [.. _ops], Inputs = ins, Outputs = [outIdx] };
    }

    private int AddValue(string name, string tensor, long[]? shape = null)
    {
        shape ??= env[name].Shape;
        foreach (long dim in shape)
            if (dim is < 1 or > int.MaxValue) throw new OnnxImportException($"value '{name}' has shape [{string.Join(", ", shape)}]");
        _values.Add(new GraphValue { Name = name, Shape = shape.Select(v => (int)v).ToArray(), Tensor = tensor });
        _index[name] = _values.Count - 1;
        return _values.Count - 1;
    }

    /// <summary>A constant operand (float tensor data, shape as given).</summary>
    private int Constant(float[] data, long[] shape, string source)
    {
        string t = $"{prefix}.{_constants++}";
        int[] dims = shape.Length == 0 ? [1] : shape.Select(v => (int)v).ToArray();
        enc.Add(t, data, dims);
        _values.Add(new GraphValue { Name = source, Shape = shape.Select(v => (int)v).ToArray(), Tensor = t });
        return _values.Count - 1;
    }

    /// <summary>The value index of an operand: computed earlier, or a constant added now.</summary>
    private int Operand(ONode n, string name)
    {
        if (_index.TryGetValue(name, out int i)) return i;
        if (!isConst(name)) throw new OnnxImportException($"{n.Describe}: input '{name}' is not available in the {prefix} graph");
        var t = env[name];
        foreach (float v in t.AsFloat())
            if (!float.IsFinite(v)) throw new OnnxImportException($"{n.Describe}: constant '{name}' holds {v}");
        i = Constant(t.AsFloat(), t.Shape, name);
        _index[name] = i;
        return i;
    }

    private static int Axis(ONode n, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new OnnxImportException($"{n.Describe}: axis {axis} is outside rank {rank}");
        return (int)a;
    }

    private void Op(ONode n, string kind, int[] inputs, string output, Dictionary<string, long[]>? ints = null, Dictionary<string, float>? floats = null)
    {
        int o = AddValue(output, "");
        _ops.Add(new GraphOp { Op = kind, Node = n.Name, Inputs = inputs, Output = o, Ints = ints, Floats = floats });
    }

    private void Emit(ONode n)
    {
        string A = n.Inputs[0], Y = n.Outputs[0];
        int Rank(string v) => env[v].Rank;
        switch (n.OpType)
        {
            case "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity" or "Dropout":
                Op(n, OpKinds.Copy, [Operand(n, A)], Y);
                break;
            case "MatMul" when isConst(n.In(1)) && Rank(n.Inputs[1]) == 2 && Rank(A) >= 1:
                {
                    var w = env[n.Inputs[1]];
                    int k = (int)w.Shape[0], o = (int)w.Shape[1];
                    float[] wt = new float[k * o]; // [N, K]
                    float[] src = w.AsFloat();
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < o; j++) wt[j * k + i] = src[i * o + j];
                    Op(n, OpKinds.Linear, [Operand(n, A), Constant(wt, [o, k], n.Inputs[1])], Y);
                    break;
                }
            case "MatMul":
                if (Rank(A) < 2 || Rank(n.Inputs[1]) < 2) throw new OnnxImportException($"{n.Describe}: MatMul of rank-1 operands is not supported");
                Op(n, OpKinds.MatMul, [Operand(n, A), Operand(n, n.Inputs[1])], Y);
                break;
            case "Gemm":
                {
                    if (!isConst(n.In(1))) throw new OnnxImportException($"{n.Describe}: Gemm with a computed weight is not supported");
                    if (n.Int("transA", 0) != 0) throw new OnnxImportException($"{n.Describe}: transA is not supported");
                    var w = env[n.Inputs[1]];
                    bool transB = n.Int("transB", 0) != 0;
                    float alpha = n.Float("alpha", 1), beta = n.Float("beta", 1);
                    int o = (int)(transB ? w.Shape[0] : w.Shape[1]), k = (int)(transB ? w.Shape[1] : w.Shape[0]);
                    float[] src = w.AsFloat(), wt = new float[k * o];
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < o; j++) wt[j * k + i] = alpha * (transB ? src[j * k + i] : src[i * o + j]);
                    var ins = new List<int> { Operand(n, A), Constant(wt, [o, k], n.Inputs[1]) };
                    if (n.In(2) is string c)
                    {
                        if (!isConst(c) || env[c].Count != o) throw new OnnxImportException($"{n.Describe}: bias must be a constant of {o} values");
                        ins.Add(Constant(env[c].AsFloat().Select(v => v * beta).ToArray(), [o], c));
                    }
                    Op(n, OpKinds.Linear, [.. ins], Y);
                    break;
                }
            case "Conv":
                {
                    if (n.Str("auto_pad", "NOTSET") != "NOTSET") throw new OnnxImportException($"{n.Describe}: auto_pad is not supported; export with explicit pads");
                    if (Rank(A) != 4) throw new OnnxImportException($"{n.Describe}: only 2-D convolutions are supported");
                    if (!isConst(n.In(1))) throw new OnnxImportException($"{n.Describe}: weight is not constant");
                    var ins = new List<int> { Operand(n, A), Operand(n, n.Inputs[1]) };
                    if (n.In(2) is string b) ins.Add(Operand(n, b));
                    Op(n, OpKinds.Conv, [.. ins], Y, new()
                    {
                        ["strides"] = n.Ints("strides") ?? [1, 1], ["pads"] = n.Ints("pads") ?? [0, 0, 0, 0],
                        ["dilations"] = n.Ints("dilations") ?? [1, 1], ["group"] = [n.Int("group", 1)],
                    });
                    break;
                }
            case "Add" or "Sub" or "Mul" or "Div" or "Pow" or "Equal" or "Max" or "Min":
                Op(n, n.OpType, [Operand(n, A), Operand(n, n.Inputs[1])], Y);
                break;
            case "Where":
                Op(n, OpKinds.Where, [Operand(n, A), Operand(n, n.Inputs[1]), Operand(n, n.Inputs[2])], Y);
                break;
            case "Sqrt" or "Erf" or "Tanh" or "Sigmoid" or "Relu" or "Neg" or "Abs" or "Exp" or "Reciprocal":
                Op(n, n.OpType, [Operand(n, A)], Y);
                break;
            case "Gelu":
                if (n.Str("approximate", "none") != "none") throw new OnnxImportException($"{n.Describe}: tanh-approximated GELU is not supported");
                Op(n, OpKinds.Gelu, [Operand(n, A)], Y);
                break;
            case "Clip":
                {
                    float lo = n.In(1) is string l ? ConstScalar(n, l) : n.Float("min", float.NegativeInfinity);
                    float hi = n.In(2) is string h ? ConstScalar(n, h) : n.Float("max", float.PositiveInfinity);
                    if (float.IsNaN(lo) || float.IsNaN(hi)) throw new OnnxImportException($"{n.Describe}: NaN bound");
                    var bounds = new Dictionary<string, float>(); // an open side is left out (JSON has no infinity; the step defaults to ±∞)
                    if (float.IsFinite(lo)) bounds["min"] = lo;
                    if (float.IsFinite(hi)) bounds["max"] = hi;
                    Op(n, OpKinds.Clip, [Operand(n, A)], Y, floats: bounds);
                    break;
                }
            case "Cast":
                Op(n, OpKinds.Cast, [Operand(n, A)], Y, new() { ["to"] = [n.Int("to", 1)] });
                break;
            case "Transpose":
                {
                    int r = Rank(A);
                    long[] perm = n.Ints("perm") ?? Enumerable.Range(0, r).Reverse().Select(i => (long)i).ToArray();
                    Op(n, OpKinds.Transpose, [Operand(n, A)], Y, new() { ["perm"] = perm });
                    break;
                }
            case "Concat":
                Op(n, OpKinds.Concat, n.Inputs.Where(i => i.Length > 0).Select(i => Operand(n, i)).ToArray(), Y,
                    new() { ["axis"] = [Axis(n, n.Int("axis", 0), Rank(Y))] });
                break;
            case "Slice": EmitSlice(n); break;
            case "Split": EmitSplit(n); break;
            case "Gather":
                Op(n, OpKinds.Gather, [Operand(n, A), Operand(n, n.Inputs[1])], Y, new() { ["axis"] = [Axis(n, n.Int("axis", 0), Rank(A))] });
                break;
            case "Expand":
                Op(n, OpKinds.Expand, [Operand(n, A)], Y);
                break;
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceL2":
                {
                    long[]? axes = n.In(1) is string ax ? ConstLongs(n, ax) : n.Ints("axes");
                    int r = Rank(A);
                    long[] norm = axes is { Length: > 0 } ? axes.Select(v => (long)Axis(n, v, r)).ToArray() : Enumerable.Range(0, r).Select(i => (long)i).ToArray();
                    Op(n, n.OpType, [Operand(n, A)], Y, new() { ["axes"] = norm });
                    break;
                }
            case "LayerNormalization":
                {
                    var ins = new List<int> { Operand(n, A), Operand(n, n.Inputs[1]) };
                    if (n.In(2) is string b) ins.Add(Operand(n, b));
                    Op(n, OpKinds.LayerNorm, [.. ins], Y, new() { ["axis"] = [Axis(n, n.Int("axis", -1), Rank(A))] }, new() { ["epsilon"] = n.Float("epsilon", 1e-5f) });
                    break;
                }
            case "Softmax":
                {
                    int r = Rank(A);
                    long axis = n.Int("axis", -1);
                    Op(n, OpKinds.Softmax, [Operand(n, A)], Y, new() { ["axis"] = [Axis(n, axis, r)] });
                    break;
                }
            default:
                throw new OnnxImportException($"unsupported ONNX op in the {prefix[5..]} graph: {n.Describe}; supported: {string.Join(", ", Supported)}");
        }
    }

    private float ConstScalar(ONode n, string v)
    {
        if (!isConst(v) || env[v].Count != 1) throw new OnnxImportException($"{n.Describe}: '{v}' must be a constant scalar");
        return env[v].AsFloat()[0];
    }

    private long[] ConstLongs(ONode n, string v)
    {
        if (!isConst(v)) throw new OnnxImportException($"{n.Describe}: '{v}' must be constant");
        return env[v].AsLong();
    }

    /// <summary>Slice with constant starts/ends/axes/steps (positive steps), normalized to one start and step per axis.</summary>
    private void EmitSlice(ONode n)
    {
        var x = env[n.Inputs[0]];
        int r = x.Rank;
        long[] starts = ConstLongs(n, n.Inputs[1]), ends = ConstLongs(n, n.Inputs[2]);
        long[] axes = n.In(3) is string ax ? ConstLongs(n, ax) : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        long[] steps = n.In(4) is string sp ? ConstLongs(n, sp) : Enumerable.Repeat(1L, starts.Length).ToArray();
        var st = new long[r];
        var step = Enumerable.Repeat(1L, r).ToArray();
        for (int i = 0; i < starts.Length; i++)
        {
            int a = Axis(n, axes[i], r);
            if (steps[i] <= 0) throw new OnnxImportException($"{n.Describe}: only positive Slice steps are supported");
            long dim = x.Shape[a], s = starts[i] < 0 ? starts[i] + dim : starts[i];
            st[a] = Math.Clamp(s, 0, dim - 1);
            step[a] = steps[i];
        }
        Op(n, OpKinds.Slice, [Operand(n, n.Inputs[0])], n.Outputs[0], new() { ["starts"] = st, ["steps"] = step });
    }

    /// <summary>Split as one Slice per output.</summary>
    private void EmitSplit(ONode n)
    {
        var x = env[n.Inputs[0]];
        int r = x.Rank, axis = Axis(n, n.Int("axis", 0), r);
        int input = Operand(n, n.Inputs[0]);
        long offset = 0;
        foreach (string o in n.Outputs)
        {
            if (o.Length > 0)
            {
                var st = new long[r];
                st[axis] = offset;
                Op(n, OpKinds.Slice, [input], o, new() { ["starts"] = st, ["steps"] = Enumerable.Repeat(1L, r).ToArray() });
            }
            offset += o.Length > 0 ? env[o].Shape[axis] : 0;
        }
    }
}
