using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Onnx;

/// <summary>
/// A plain float/int64 ONNX evaluator for the ops PyTorch writes for transformer encoders. It folds the
/// Shape/Gather/Reshape/Concat plumbing and is the FP32 oracle the imported encoder is verified against.
/// Slow by design (naive loops); used offline only.
/// </summary>
internal static class OnnxInterpreter
{
    /// <summary>Op types this evaluator implements.</summary>
    public static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "Constant", "Identity", "Dropout", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Flatten", "Transpose",
        "Slice", "Split", "Cast", "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Where", "Expand", "ConstantOfShape",
        "MatMul", "Gemm", "Conv", "LayerNormalization", "Softmax", "Erf", "Sqrt", "Relu", "Tanh", "Neg", "Gelu",
        "ReduceMean", "Range", "ReduceSum", "ReduceMax", "ReduceL2", "Sigmoid", "Clip", "Abs", "Exp", "Reciprocal", "Max", "Min",
    };

    /// <summary>Throws naming the first node whose op is not supported.</summary>
    public static void CheckOps(OnnxModel m)
    {
        foreach (var n in m.Nodes)
            if (!Supported.Contains(n.OpType) || n.Domain is not ("" or "ai.onnx"))
                throw new OnnxImportException($"unsupported ONNX op: {n.Describe}{(n.Domain.Length > 0 ? " in domain " + n.Domain : "")}; supported ops: {string.Join(", ", Supported.Order())}");
    }

    /// <summary>Evaluates the whole graph; returns every named value. <paramref name="progress"/> receives node counts.</summary>
    public static Dictionary<string, OTensor> Run(OnnxModel m, Dictionary<string, OTensor> inputs, Progress? progress = null)
    {
        int done = 0;
        var env = new Dictionary<string, OTensor>(m.Initializers, StringComparer.Ordinal);
        foreach (var kv in inputs) env[kv.Key] = kv.Value;
        foreach (var n in m.Nodes)
        {
            OTensor?[] ins = new OTensor?[n.Inputs.Count];
            for (int i = 0; i < ins.Length; i++)
            {
                if (n.Inputs[i].Length == 0) continue;
                if (!env.TryGetValue(n.Inputs[i], out ins[i]))
                    throw new OnnxImportException($"{n.Describe}: input '{n.Inputs[i]}' is not produced by any earlier node");
            }
            OTensor[] outs;
            try { outs = Eval(n, ins); }
            catch (OnnxImportException) { throw; }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException or DivideByZeroException)
            {
                throw new OnnxImportException($"{n.Describe}: cannot evaluate ({e.Message})");
            }
            for (int i = 0; i < outs.Length && i < n.Outputs.Count; i++)
                if (n.Outputs[i].Length > 0) env[n.Outputs[i]] = outs[i];
            progress?.Report(++done);
        }
        foreach (var o in m.Outputs)
            if (!env.ContainsKey(o.Name)) throw new OnnxImportException($"graph output '{o.Name}' is not produced by any node");
        return env;
    }

    private static OTensor Need(OTensor?[] ins, int i, ONode n) =>
        i < ins.Length && ins[i] != null ? ins[i]! : throw new OnnxImportException($"{n.Describe}: missing input {i}");

    private static OTensor[] Eval(ONode n, OTensor?[] ins)
    {
        OTensor A() => Need(ins, 0, n);
        OTensor B() => Need(ins, 1, n);
        switch (n.OpType)
        {
            case "Constant": return [ConstantValue(n)];
            case "Identity": case "Dropout": return [A()];
            case "Shape":
                {
                    long r = A().Rank, s = n.Int("start", 0), e = n.Int("end", r);
                    s = s < 0 ? s + r : s; e = e < 0 ? e + r : e;
                    s = Math.Clamp(s, 0, r); e = Math.Clamp(e, s, r);
                    return [new OTensor([e - s], A().Shape[(int)s..(int)e])];
                }
            case "Gather": return [Gather(A(), B(), (int)n.Int("axis", 0))];
            case "Unsqueeze":
                {
                    long[] axes = ins.Length > 1 && ins[1] != null ? B().AsLong() : n.Ints("axes") ?? [];
                    var shape = A().Shape.ToList();
                    int outRank = shape.Count + axes.Length;
                    foreach (long ax in axes.Select(a => a < 0 ? a + outRank : a).Order()) shape.Insert((int)ax, 1);
                    return [Reshaped(A(), shape.ToArray())];
                }
            case "Squeeze":
                {
                    long[]? axes = ins.Length > 1 && ins[1] != null ? B().AsLong() : n.Ints("axes");
                    var a = A();
                    var keep = new List<long>();
                    for (int i = 0; i < a.Rank; i++)
                    {
                        bool drop = axes == null ? a.Shape[i] == 1 : axes.Any(x => (x < 0 ? x + a.Rank : x) == i);
                        if (!drop) keep.Add(a.Shape[i]);
                    }
                    return [Reshaped(a, keep.ToArray())];
                }
            case "Concat": return [Concat(ins.Where(t => t != null).Select(t => t!).ToArray(), (int)n.Int("axis", 0))];
            case "Reshape":
                {
                    var a = A();
                    long[] target = (long[])B().AsLong().Clone();
                    bool allowZero = n.Int("allowzero", 0) != 0;
                    for (int i = 0; i < target.Length; i++) if (target[i] == 0 && !allowZero) target[i] = a.Shape[i];
                    int neg = Array.IndexOf(target, -1L);
                    if (neg >= 0)
                    {
                        long known = 1;
                        for (int i = 0; i < target.Length; i++) if (i != neg) known *= target[i];
                        target[neg] = a.Count / known;
                    }
                    if (OTensor.Product(target) != a.Count) throw new OnnxImportException($"{n.Describe}: cannot reshape {a.ShapeText} to [{string.Join(", ", target)}]");
                    return [Reshaped(a, target)];
                }
            case "Flatten":
                {
                    var a = A();
                    int axis = (int)n.Int("axis", 1);
                    if (axis < 0) axis += a.Rank;
                    return [Reshaped(a, [OTensor.Product(a.Shape[..axis]), OTensor.Product(a.Shape[axis..])])];
                }
            case "Transpose":
                {
                    var a = A();
                    long[] perm = n.Ints("perm") ?? Enumerable.Range(0, a.Rank).Reverse().Select(i => (long)i).ToArray();
                    return [Transpose(a, perm)];
                }
            case "Slice": return [Slice(n, ins)];
            case "Split": return Split(n, ins);
            case "Cast":
                {
                    long to = n.Int("to", 1);
                    var a = A();
                    bool toFloat = to is 1 or 10 or 11 or 16;
                    if (toFloat) return [new OTensor(a.Shape, (float[])a.AsFloat().Clone())];
                    if (to == 9) return [new OTensor(a.Shape, a.IsFloat ? a.F!.Select(v => v != 0 ? 1L : 0L).ToArray() : a.L!.Select(v => v != 0 ? 1L : 0L).ToArray())];
                    return [new OTensor(a.Shape, (long[])a.AsLong().Clone())];
                }
            case "Add": return [Binary(A(), B(), (x, y) => x + y, (x, y) => x + y)];
            case "Sub": return [Binary(A(), B(), (x, y) => x - y, (x, y) => x - y)];
            case "Mul": return [Binary(A(), B(), (x, y) => x * y, (x, y) => x * y)];
            case "Div": return [Binary(A(), B(), (x, y) => x / y, (x, y) => y == 0 ? throw new OnnxImportException($"{n.Describe}: integer division by zero") : x / y)];
            case "Pow": return [Binary(A(), B(), MathF.Pow, (x, y) => (long)Math.Pow(x, y))];
            case "Mod":
                {
                    bool fmod = n.Int("fmod", 0) != 0;
                    return [Binary(A(), B(), (x, y) => fmod ? x % y : x - MathF.Floor(x / y) * y,
                        (x, y) => { long r = x % y; return !fmod && r != 0 && (r < 0) != (y < 0) ? r + y : r; })];
                }
            case "Equal": return [Compare(A(), B())];
            case "Where": return [Where(A(), B(), Need(ins, 2, n))];
            case "Expand": return [Expand(A(), B().AsLong())];
            case "ConstantOfShape":
                {
                    long[] shape = A().AsLong();
                    int count = (int)OTensor.Product(shape);
                    var v = n.Attributes.TryGetValue("value", out var at) && at.T != null ? at.T : new OTensor([1], new float[] { 0 });
                    return [v.IsFloat ? new OTensor(shape, Enumerable.Repeat(v.F![0], count).ToArray()) : new OTensor(shape, Enumerable.Repeat(v.L![0], count).ToArray())];
                }
            case "Range":
                {
                    var s = A(); var l = B(); var d = Need(ins, 2, n);
                    if (s.IsFloat) throw new OnnxImportException($"{n.Describe}: float Range is not supported");
                    long start = s.L![0], limit = l.AsLong()[0], delta = d.AsLong()[0];
                    long cnt = Math.Max((long)Math.Ceiling((limit - start) / (double)delta), 0);
                    var r = new long[cnt];
                    for (int i = 0; i < cnt; i++) r[i] = start + i * delta;
                    return [new OTensor([cnt], r)];
                }
            case "MatMul": return [MatMul(A(), B())];
            case "Gemm": return [Gemm(n, A(), B(), ins.Length > 2 ? ins[2] : null)];
            case "Conv": return [Conv(n, A(), B(), ins.Length > 2 ? ins[2] : null)];
            case "LayerNormalization": return [LayerNorm(n, A(), B(), ins.Length > 2 ? ins[2] : null)];
            case "Softmax": return [Softmax(A(), (int)n.Int("axis", -1))];
            case "Erf": return [Map(A(), x => (float)FloatReference.Erf(x))];
            case "Sqrt": return [Map(A(), MathF.Sqrt)];
            case "Relu": return [Map(A(), x => MathF.Max(x, 0))];
            case "Tanh": return [Map(A(), MathF.Tanh)];
            case "Neg": return [A().IsFloat ? Map(A(), x => -x) : new OTensor(A().Shape, A().L!.Select(v => -v).ToArray())];
            case "Gelu":
                if (n.Str("approximate", "none") != "none") throw new OnnxImportException($"{n.Describe}: tanh-approximated GELU is not supported");
                return [Map(A(), FloatReference.Gelu)];
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceL2":
                {
                    long[]? axes = ins.Length > 1 && ins[1] != null ? B().AsLong() : n.Ints("axes");
                    if (axes is { Length: 0 }) axes = null; // all axes (noop_with_empty_axes = 0)
                    return [Reduce(n.OpType, A(), axes, n.Int("keepdims", 1) != 0)];
                }
            case "Sigmoid": return [Map(A(), x => (float)(1.0 / (1.0 + Math.Exp(-x))))];
            case "Abs": return [Map(A(), MathF.Abs)];
            case "Exp": return [Map(A(), MathF.Exp)];
            case "Reciprocal": return [Map(A(), x => 1f / x)];
            case "Max": return [Binary(A(), B(), MathF.Max, Math.Max)];
            case "Min": return [Binary(A(), B(), MathF.Min, Math.Min)];
            case "Clip":
                {
                    float lo = ins.Length > 1 && ins[1] != null ? B().AsFloat()[0] : n.Float("min", float.NegativeInfinity);
                    float hi = ins.Length > 2 && ins[2] != null ? ins[2]!.AsFloat()[0] : n.Float("max", float.PositiveInfinity);
                    return [Map(A(), x => MathF.Min(MathF.Max(x, lo), hi))];
                }
            default: throw new OnnxImportException($"unsupported ONNX op: {n.Describe}");
        }
    }

    private static OTensor ConstantValue(ONode n)
    {
        if (n.Attributes.TryGetValue("value", out var a) && a.T != null) return a.T;
        if (n.Attributes.TryGetValue("value_float", out a)) return new OTensor([], new[] { a.F });
        if (n.Attributes.TryGetValue("value_int", out a)) return new OTensor([], new[] { a.I });
        if (n.Attributes.TryGetValue("value_floats", out a)) return new OTensor([a.Floats.Count], a.Floats.ToArray());
        if (n.Attributes.TryGetValue("value_ints", out a)) return new OTensor([a.Ints.Count], a.Ints.ToArray());
        throw new OnnxImportException($"{n.Describe}: unsupported Constant attribute");
    }

    private static OTensor Reshaped(OTensor a, long[] shape) => a.IsFloat ? new OTensor(shape, a.F!) : new OTensor(shape, a.L!);

    private static long[] Strides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Maps each output index to the flat index of a broadcast operand.</summary>
    private static int[] BroadcastIndex(long[] outShape, long[] inShape)
    {
        int count = (int)OTensor.Product(outShape);
        var idx = new int[count];
        int off = outShape.Length - inShape.Length;
        long[] inStr = Strides(inShape);
        long[] outStr = Strides(outShape);
        for (int i = 0; i < count; i++)
        {
            long rem = i, src = 0;
            for (int d = 0; d < outShape.Length; d++)
            {
                long coord = rem / outStr[d];
                rem %= outStr[d];
                int di = d - off;
                if (di >= 0 && inShape[di] != 1) src += coord * inStr[di];
            }
            idx[i] = (int)src;
        }
        return idx;
    }

    private static long[] BroadcastShape(long[] a, long[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new long[r];
        for (int i = 0; i < r; i++)
        {
            long x = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            long y = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (x != y && x != 1 && y != 1) throw new ArgumentException($"shapes [{string.Join(", ", a)}] and [{string.Join(", ", b)}] do not broadcast");
            s[i] = x == 1 ? y : x;
        }
        return s;
    }

    private static OTensor Binary(OTensor a, OTensor b, Func<float, float, float> ff, Func<long, long, long> fl)
    {
        long[] shape = BroadcastShape(a.Shape, b.Shape);
        int[] ia = BroadcastIndex(shape, a.Shape), ib = BroadcastIndex(shape, b.Shape);
        if (a.IsFloat || b.IsFloat)
        {
            float[] x = a.AsFloat(), y = b.AsFloat();
            var r = new float[ia.Length];
            for (int i = 0; i < r.Length; i++) r[i] = ff(x[ia[i]], y[ib[i]]);
            return new OTensor(shape, r);
        }
        var rl = new long[ia.Length];
        for (int i = 0; i < rl.Length; i++) rl[i] = fl(a.L![ia[i]], b.L![ib[i]]);
        return new OTensor(shape, rl);
    }

    private static OTensor Compare(OTensor a, OTensor b)
    {
        long[] shape = BroadcastShape(a.Shape, b.Shape);
        int[] ia = BroadcastIndex(shape, a.Shape), ib = BroadcastIndex(shape, b.Shape);
        float[] x = a.AsFloat(), y = b.AsFloat();
        var r = new long[ia.Length];
        for (int i = 0; i < r.Length; i++) r[i] = x[ia[i]] == y[ib[i]] ? 1 : 0;
        return new OTensor(shape, r);
    }

    private static OTensor Where(OTensor c, OTensor a, OTensor b)
    {
        long[] shape = BroadcastShape(BroadcastShape(c.Shape, a.Shape), b.Shape);
        int[] ic = BroadcastIndex(shape, c.Shape), ia = BroadcastIndex(shape, a.Shape), ib = BroadcastIndex(shape, b.Shape);
        long[] cond = c.AsLong();
        if (a.IsFloat || b.IsFloat)
        {
            float[] x = a.AsFloat(), y = b.AsFloat();
            var r = new float[ic.Length];
            for (int i = 0; i < r.Length; i++) r[i] = cond[ic[i]] != 0 ? x[ia[i]] : y[ib[i]];
            return new OTensor(shape, r);
        }
        var rl = new long[ic.Length];
        for (int i = 0; i < rl.Length; i++) rl[i] = cond[ic[i]] != 0 ? a.L![ia[i]] : b.L![ib[i]];
        return new OTensor(shape, rl);
    }

    private static OTensor Expand(OTensor a, long[] target)
    {
        long[] shape = BroadcastShape(a.Shape, target);
        int[] ia = BroadcastIndex(shape, a.Shape);
        if (a.IsFloat) return new OTensor(shape, ia.Select(i => a.F![i]).ToArray());
        return new OTensor(shape, ia.Select(i => a.L![i]).ToArray());
    }

    private static OTensor Map(OTensor a, Func<float, float> f)
    {
        float[] x = a.AsFloat();
        var r = new float[x.Length];
        for (int i = 0; i < r.Length; i++) r[i] = f(x[i]);
        return new OTensor(a.Shape, r);
    }

    /// <summary>Generic gather of elements by an index map (used by Transpose, Slice, Gather, Concat).</summary>
    private static OTensor Pick(OTensor a, long[] shape, int[] src) =>
        a.IsFloat ? new OTensor(shape, src.Select(i => a.F![i]).ToArray()) : new OTensor(shape, src.Select(i => a.L![i]).ToArray());

    private static OTensor Transpose(OTensor a, long[] perm)
    {
        long[] shape = perm.Select(p => a.Shape[p]).ToArray();
        long[] inStr = Strides(a.Shape), outStr = Strides(shape);
        int count = a.Count;
        var src = new int[count];
        for (int i = 0; i < count; i++)
        {
            long rem = i, s = 0;
            for (int d = 0; d < shape.Length; d++)
            {
                long c = rem / outStr[d];
                rem %= outStr[d];
                s += c * inStr[perm[d]];
            }
            src[i] = (int)s;
        }
        return Pick(a, shape, src);
    }

    private static OTensor Gather(OTensor a, OTensor idx, int axis)
    {
        if (axis < 0) axis += a.Rank;
        long[] ind = idx.AsLong();
        long outer = OTensor.Product(a.Shape[..axis]), inner = OTensor.Product(a.Shape[(axis + 1)..]), dim = a.Shape[axis];
        long[] shape = [.. a.Shape[..axis], .. idx.Shape, .. a.Shape[(axis + 1)..]];
        var src = new int[outer * ind.Length * inner];
        int o = 0;
        for (long i = 0; i < outer; i++)
            foreach (long raw in ind)
            {
                long j = raw < 0 ? raw + dim : raw;
                if (j < 0 || j >= dim) throw new ArgumentException($"Gather index {raw} out of range for dim {dim}");
                for (long k = 0; k < inner; k++) src[o++] = (int)((i * dim + j) * inner + k);
            }
        return Pick(a, shape, src);
    }

    private static OTensor Concat(OTensor[] parts, int axis)
    {
        var nonEmpty = parts.Where(p => p.Count > 0 || p.Rank > 0).ToArray();
        int rank = nonEmpty[0].Rank;
        if (axis < 0) axis += rank;
        long[] shape = (long[])nonEmpty[0].Shape.Clone();
        shape[axis] = nonEmpty.Sum(p => p.Shape[axis]);
        bool isFloat = nonEmpty.Any(p => p.IsFloat);
        long outer = OTensor.Product(shape[..axis]);
        var f = new List<float>();
        var l = new List<long>();
        for (long i = 0; i < outer; i++)
            foreach (var p in nonEmpty)
            {
                long chunk = OTensor.Product(p.Shape[axis..]);
                if (isFloat) f.AddRange(p.AsFloat().AsSpan((int)(i * chunk), (int)chunk).ToArray());
                else l.AddRange(p.L!.AsSpan((int)(i * chunk), (int)chunk).ToArray());
            }
        return isFloat ? new OTensor(shape, f.ToArray()) : new OTensor(shape, l.ToArray());
    }

    private static OTensor Slice(ONode n, OTensor?[] ins)
    {
        var a = Need(ins, 0, n);
        long[] starts = Need(ins, 1, n).AsLong(), ends = Need(ins, 2, n).AsLong();
        long[] axes = ins.Length > 3 && ins[3] != null ? ins[3]!.AsLong() : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        long[] steps = ins.Length > 4 && ins[4] != null ? ins[4]!.AsLong() : Enumerable.Repeat(1L, starts.Length).ToArray();
        int r = a.Rank;
        var st = new long[r]; var sp = Enumerable.Repeat(1L, r).ToArray(); var cnt = (long[])a.Shape.Clone();
        for (int i = 0; i < starts.Length; i++)
        {
            int ax = (int)(axes[i] < 0 ? axes[i] + r : axes[i]);
            long dim = a.Shape[ax], step = steps[i];
            if (step <= 0) throw new OnnxImportException($"{n.Describe}: negative Slice steps are not supported");
            long s = starts[i] < 0 ? starts[i] + dim : starts[i], e = ends[i] < 0 ? ends[i] + dim : ends[i];
            s = Math.Clamp(s, 0, dim); e = Math.Clamp(e, 0, dim);
            st[ax] = s; sp[ax] = step; cnt[ax] = Math.Max(0, (e - s + step - 1) / step);
        }
        long[] inStr = Strides(a.Shape), outStr = Strides(cnt);
        int count = (int)OTensor.Product(cnt);
        var src = new int[count];
        for (int i = 0; i < count; i++)
        {
            long rem = i, s = 0;
            for (int d = 0; d < r; d++)
            {
                long c = rem / outStr[d];
                rem %= outStr[d];
                s += (st[d] + c * sp[d]) * inStr[d];
            }
            src[i] = (int)s;
        }
        return Pick(a, cnt, src);
    }

    private static OTensor[] Split(ONode n, OTensor?[] ins)
    {
        var a = Need(ins, 0, n);
        int axis = (int)n.Int("axis", 0);
        if (axis < 0) axis += a.Rank;
        long[] sizes = ins.Length > 1 && ins[1] != null ? ins[1]!.AsLong() : n.Ints("split")
            ?? Enumerable.Repeat(a.Shape[axis] / n.Outputs.Count, n.Outputs.Count).ToArray();
        var outs = new OTensor[sizes.Length];
        long start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            var starts = new OTensor([1], new[] { start });
            var ends = new OTensor([1], new[] { start + sizes[i] });
            var axes = new OTensor([1], new[] { (long)axis });
            outs[i] = Slice(n, [a, starts, ends, axes]);
            start += sizes[i];
        }
        return outs;
    }

    private static OTensor MatMul(OTensor a, OTensor b)
    {
        float[] x = a.AsFloat(), y = b.AsFloat();
        long[] sa = a.Rank == 1 ? [1, a.Shape[0]] : a.Shape, sb = b.Rank == 1 ? [b.Shape[0], 1] : b.Shape;
        long m = sa[^2], k = sa[^1], k2 = sb[^2], nn = sb[^1];
        if (k != k2) throw new ArgumentException($"MatMul inner dims {k} and {k2} differ");
        long[] batch = BroadcastShape(sa[..^2], sb[..^2]);
        int[] ba = BroadcastIndex(batch, sa[..^2]), bb = BroadcastIndex(batch, sb[..^2]);
        int nb = ba.Length;
        var r = new float[nb * m * nn];
        for (int bi = 0; bi < nb; bi++)
        {
            long oa = ba[bi] * m * k, ob = bb[bi] * k * nn, oc = bi * m * nn;
            for (long i = 0; i < m; i++)
            {
                Span<float> row = r.AsSpan((int)(oc + i * nn), (int)nn);
                for (long p = 0; p < k; p++)
                {
                    float av = x[oa + i * k + p];
                    if (av != 0) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(y.AsSpan((int)(ob + p * nn), (int)nn), av, row, row);
                }
            }
        }
        var shape = new List<long>(batch);
        if (a.Rank != 1) shape.Add(m);
        if (b.Rank != 1) shape.Add(nn);
        return new OTensor(shape.ToArray(), r);
    }

    private static OTensor Gemm(ONode n, OTensor a, OTensor b, OTensor? c)
    {
        if (n.Int("transA", 0) != 0) a = Transpose(a, [1, 0]);
        if (n.Int("transB", 0) != 0) b = Transpose(b, [1, 0]);
        var r = MatMul(a, b);
        float alpha = n.Float("alpha", 1), beta = n.Float("beta", 1);
        if (alpha != 1) r = Map(r, v => v * alpha);
        if (c != null) r = Binary(r, beta == 1 ? c : Map(c, v => v * beta), (x, y) => x + y, (x, y) => x + y);
        return r;
    }

    private static OTensor Conv(ONode n, OTensor x, OTensor w, OTensor? bias)
    {
        if (x.Rank != 4 || w.Rank != 4) throw new OnnxImportException($"{n.Describe}: only 2-D convolution is supported");
        if (n.Int("group", 1) != 1) throw new OnnxImportException($"{n.Describe}: grouped convolution is not supported");
        long[] strides = n.Ints("strides") ?? [1, 1], pads = n.Ints("pads") ?? [0, 0, 0, 0], dil = n.Ints("dilations") ?? [1, 1];
        if (dil.Any(d => d != 1)) throw new OnnxImportException($"{n.Describe}: dilated convolution is not supported");
        if (strides.Length != 2 || strides.Any(st => st < 1) || pads.Length != 4 || pads.Any(p => p < 0))
            throw new OnnxImportException($"{n.Describe}: strides [{string.Join(", ", strides)}] must be two positive values and pads [{string.Join(", ", pads)}] four non-negative ones");
        long nb = x.Shape[0], ci = x.Shape[1], h = x.Shape[2], wd = x.Shape[3], co = w.Shape[0], kh = w.Shape[2], kw = w.Shape[3];
        if (w.Shape[1] != ci || bias != null && bias.Count != co)
            throw new OnnxImportException($"{n.Describe}: weight {w.ShapeText}{(bias != null ? $" and bias [{bias.Count}]" : "")} do not fit input {x.ShapeText}");
        long oh = (h + pads[0] + pads[2] - kh) / strides[0] + 1, ow = (wd + pads[1] + pads[3] - kw) / strides[1] + 1;
        if (oh < 1 || ow < 1) throw new OnnxImportException($"{n.Describe}: kernel {kh}x{kw} does not fit the padded input {h}x{wd}");
        float[] xi = x.AsFloat(), wi = w.AsFloat(), bi = bias?.AsFloat() ?? new float[co];
        var r = new float[nb * co * oh * ow];
        for (long b = 0; b < nb; b++)
            for (long o = 0; o < co; o++)
                for (long yy = 0; yy < oh; yy++)
                    for (long xx = 0; xx < ow; xx++)
                    {
                        float acc = bi[o];
                        for (long c = 0; c < ci; c++)
                            for (long ky = 0; ky < kh; ky++)
                            {
                                long iy = yy * strides[0] - pads[0] + ky;
                                if (iy < 0 || iy >= h) continue;
                                for (long kx = 0; kx < kw; kx++)
                                {
                                    long ix = xx * strides[1] - pads[1] + kx;
                                    if (ix < 0 || ix >= wd) continue;
                                    acc += xi[((b * ci + c) * h + iy) * wd + ix] * wi[((o * ci + c) * kh + ky) * kw + kx];
                                }
                            }
                        r[((b * co + o) * oh + yy) * ow + xx] = acc;
                    }
        return new OTensor([nb, co, oh, ow], r);
    }

    private static OTensor LayerNorm(ONode n, OTensor x, OTensor g, OTensor? b)
    {
        int axis = (int)n.Int("axis", -1);
        if (axis < 0) axis += x.Rank;
        if (axis != x.Rank - 1) throw new OnnxImportException($"{n.Describe}: LayerNormalization over axis {axis} (not the last) is not supported");
        int cols = (int)x.Shape[^1], rows = x.Count / cols;
        var y = new float[x.Count];
        FloatReference.LayerNorm(x.AsFloat(), g.AsFloat(), b?.AsFloat() ?? new float[cols], n.Float("epsilon", 1e-5f), y, rows, cols);
        return new OTensor(x.Shape, y);
    }

    private static OTensor Softmax(OTensor x, int axis)
    {
        if (axis < 0) axis += x.Rank;
        if (axis != x.Rank - 1) throw new OnnxImportException($"Softmax over axis {axis} (not the last) is not supported");
        var y = (float[])x.AsFloat().Clone();
        int cols = (int)x.Shape[^1];
        for (int i = 0; i < y.Length; i += cols) FloatReference.Softmax(y.AsSpan(i, cols));
        return new OTensor(x.Shape, y);
    }

    private static OTensor Reduce(string op, OTensor x, long[]? axes, bool keep)
    {
        int r = x.Rank;
        var set = new HashSet<int>((axes ?? Enumerable.Range(0, r).Select(i => (long)i).ToArray()).Select(a => (int)(a < 0 ? a + r : a)));
        long[] outShape = Enumerable.Range(0, r).Select(i => set.Contains(i) ? 1 : x.Shape[i]).ToArray();
        int[] map = BroadcastIndex(x.Shape, outShape); // each input element → its output slot
        float[] xi = x.AsFloat();
        var sum = new double[OTensor.Product(outShape)];
        if (op == "ReduceMax") Array.Fill(sum, double.NegativeInfinity);
        for (int i = 0; i < xi.Length; i++)
            sum[map[i]] = op switch { "ReduceMax" => Math.Max(sum[map[i]], xi[i]), "ReduceL2" => sum[map[i]] + (double)xi[i] * xi[i], _ => sum[map[i]] + xi[i] };
        double cnt = (double)xi.Length / sum.Length;
        float[] y = sum.Select(s => (float)(op switch { "ReduceMean" => s / cnt, "ReduceL2" => Math.Sqrt(s), _ => s })).ToArray();
        long[] shape = keep ? outShape : Enumerable.Range(0, r).Where(i => !set.Contains(i)).Select(i => x.Shape[i]).ToArray();
        return new OTensor(shape, y);
    }
}
