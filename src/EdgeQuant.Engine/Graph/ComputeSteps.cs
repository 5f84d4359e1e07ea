using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Graph;

/// <summary>y [.., N] = x [.., K] · Wᵀ + b with a constant W [N, K] (the converter transposes MatMul weights) and optional b [N].</summary>
internal sealed class LinearStep : GraphStep
{
    private readonly int _x, _w, _b, _rows, _n, _k;

    public LinearStep(OpArgs a)
    {
        a.NeedInputs(2, 3);
        a.NeedConstant(1, "the weight");
        (_x, _w, _rows, _n, _k) = Shape(a);
        _b = -1;
        if (a.Count == 3)
        {
            a.NeedConstant(2, "the bias");
            if (a.Size(2) != _n) throw new GraphValidationException($"bias has {a.Size(2)} values, expected {_n}");
            _b = a.Ins[2];
        }
    }

    /// <summary>Checks x [.., K] · W [N, K]ᵀ → y [.., N] (also for <see cref="LinearS8Step"/>): x, W, rows, N, K.</summary>
    public static (int X, int W, int Rows, int N, int K) Shape(OpArgs a)
    {
        int[] x = a.Shape(0), w = a.Shape(1), o = a.OutShape;
        if (w.Length != 2 || x.Length == 0 || x[^1] != w[1]) throw new GraphValidationException($"x {OpArgs.Text(x)} and W {OpArgs.Text(w)} do not fit [.., K]·[N, K]ᵀ");
        int[] expect = [.. x.AsSpan(0, x.Length - 1), w[0]];
        if (!expect.AsSpan().SequenceEqual(o)) throw new GraphValidationException($"output {OpArgs.Text(o)} should be {OpArgs.Text(expect)}");
        return (a.Ins[0], a.Ins[1], a.Size(0) / w[1], w[0], w[1]);
    }

    public override void Run(GraphFrame f)
    {
        ReadOnlySpan<float> x = f.In(_x), w = f.In(_w); // [rows, K], [N, K]
        ReadOnlySpan<float> b = _b >= 0 ? f.In(_b) : default; // [N]
        Span<float> y = f.Out(Output); // [rows, N]
        for (int r = 0; r < _rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * _k, _k);
            for (int j = 0; j < _n; j++)
            {
                float s = FloatReference.DotLanes8(xr, w.Slice(j * _k, _k));
                y[r * _n + j] = b.IsEmpty ? s : s + b[j];
            }
        }
    }
}

/// <summary>MatMul of two values [.., M, K]·[.., K, N] with broadcast batch axes (both of rank ≥ 2).</summary>
internal sealed class MatMulStep : GraphStep
{
    private readonly int _a, _b, _m, _n, _k;
    private readonly int[] _aOff, _bOff; // per output batch

    public MatMulStep(OpArgs a)
    {
        a.NeedInputs(2, 2);
        int[] sa = a.Shape(0), sb = a.Shape(1), o = a.OutShape;
        if (sa.Length < 2 || sb.Length < 2 || o.Length < 2 || sa[^1] != sb[^2])
            throw new GraphValidationException($"{OpArgs.Text(sa)} · {OpArgs.Text(sb)} is not a matrix product");
        (_a, _b, _m, _k, _n) = (a.Ins[0], a.Ins[1], sa[^2], sa[^1], sb[^1]);
        if (o[^2] != _m || o[^1] != _n) throw new GraphValidationException($"output {OpArgs.Text(o)} should end in [{_m}, {_n}]");
        int[] batch = o[..^2];
        int[] ba = Walk.BroadcastStrides(sa[..^2], batch), bb = Walk.BroadcastStrides(sb[..^2], batch);
        int count = Product(batch);
        (_aOff, _bOff) = (new int[count], new int[count]);
        var idx = new int[batch.Length];
        for (int i = 0; i < count; i++)
        {
            int oa = 0, ob = 0;
            for (int d = 0; d < batch.Length; d++) { oa += idx[d] * ba[d]; ob += idx[d] * bb[d]; }
            (_aOff[i], _bOff[i]) = (oa * _m * _k, ob * _k * _n);
            for (int d = batch.Length - 1; d >= 0 && ++idx[d] == batch[d]; d--) idx[d] = 0;
        }
    }

    public override void Run(GraphFrame f)
    {
        ReadOnlySpan<float> a = f.In(_a), b = f.In(_b);
        Span<float> y = f.Out(Output); // [batch, M, N]
        for (int t = 0; t < _aOff.Length; t++)
        {
            ReadOnlySpan<float> at = a.Slice(_aOff[t], _m * _k), bt = b.Slice(_bOff[t], _k * _n);
            Span<float> yt = y.Slice(t * _m * _n, _m * _n);
            for (int i = 0; i < _m; i++)
                for (int j = 0; j < _n; j++)
                {
                    float s = 0;
                    for (int q = 0; q < _k; q++) s += at[i * _k + q] * bt[q * _n + j];
                    yt[i * _n + j] = s;
                }
        }
    }
}

/// <summary>2-D convolution of x [1, C, H, W] by a constant W [M, C/group, kh, kw] (+ b [M]); ints strides, pads (t, l, b, r), dilations, group.</summary>
internal sealed class ConvStep : GraphStep
{
    private readonly ConvGeometry _g;

    public ConvStep(OpArgs a)
    {
        a.NeedConstant(1, "the weight");
        _g = new ConvGeometry(a);
    }

    public override void Run(GraphFrame f)
    {
        var g = _g;
        ReadOnlySpan<float> x = f.In(g.X), w = f.In(g.W); // [C, H, W], [M, C/g, kh, kw]
        ReadOnlySpan<float> b = g.B >= 0 ? f.In(g.B) : default;
        Span<float> y = f.Out(Output); // [M, OH, OW]
        int mPerGroup = g.M / g.Group;
        for (int m = 0; m < g.M; m++)
        {
            int c0 = m / mPerGroup * g.Cg;
            ReadOnlySpan<float> wm = w.Slice(m * g.Cg * g.Kh * g.Kw, g.Cg * g.Kh * g.Kw);
            for (int oy = 0; oy < g.Oh; oy++)
                for (int ox = 0; ox < g.Ow; ox++)
                {
                    float s = 0;
                    for (int c = 0; c < g.Cg; c++)
                        for (int ky = 0; ky < g.Kh; ky++)
                        {
                            int iy = oy * g.Sh - g.Pt + ky * g.Dh;
                            if ((uint)iy >= (uint)g.H) continue;
                            for (int kx = 0; kx < g.Kw; kx++)
                            {
                                int ix = ox * g.Sw - g.Pl + kx * g.Dw;
                                if ((uint)ix >= (uint)g.Wd) continue;
                                s += x[((c0 + c) * g.H + iy) * g.Wd + ix] * wm[(c * g.Kh + ky) * g.Kw + kx];
                            }
                        }
                    y[(m * g.Oh + oy) * g.Ow + ox] = b.IsEmpty ? s : s + b[m];
                }
        }
    }
}

/// <summary>The validated geometry of a Conv or ConvS8 op (inputs x, W[, b] or x, Wq, wScale[, b]).</summary>
internal sealed class ConvGeometry
{
    public readonly int X, W, B, C, H, Wd, M, Cg, Kh, Kw, Sh, Sw, Pt, Pl, Dh, Dw, Oh, Ow, Group;

    /// <param name="a">The op.</param>
    /// <param name="extra">Inputs between the weight and the optional bias (1 for ConvS8's weight scales).</param>
    public ConvGeometry(OpArgs a, int extra = 0)
    {
        a.NeedInputs(2 + extra, 3 + extra);
        int[] x = a.Shape(0), w = a.Shape(1), o = a.OutShape;
        if (x.Length != 4 || w.Length != 4 || o.Length != 4 || x[0] != 1) throw new GraphValidationException($"x {OpArgs.Text(x)} and W {OpArgs.Text(w)} are not a 2-D NCHW convolution of one image");
        long[] strides = a.Ints("strides", 2), pads = a.Ints("pads", 4), dil = a.Ints("dilations", 2);
        Group = (int)a.Int("group", 1);
        (C, H, Wd, M, Cg, Kh, Kw) = (x[1], x[2], x[3], w[0], w[1], w[2], w[3]);
        if (Group < 1 || C % Group != 0 || M % Group != 0 || Cg != C / Group) throw new GraphValidationException($"group {Group} does not fit {C} input and {M} output channels with W {OpArgs.Text(w)}");
        foreach (long v in strides) if (v is < 1 or > 4096) throw new GraphValidationException($"stride {v}");
        foreach (long v in dil) if (v is < 1 or > 4096) throw new GraphValidationException($"dilation {v}");
        foreach (long v in pads) if (v is < 0 or > 4096) throw new GraphValidationException($"pad {v}");
        (Sh, Sw, Pt, Pl, Dh, Dw) = ((int)strides[0], (int)strides[1], (int)pads[0], (int)pads[1], (int)dil[0], (int)dil[1]);
        long oh = (H + pads[0] + pads[2] - (long)Dh * (Kh - 1) - 1) / Sh + 1, ow = (Wd + pads[1] + pads[3] - (long)Dw * (Kw - 1) - 1) / Sw + 1;
        if (o[0] != 1 || o[1] != M || o[2] != oh || o[3] != ow) throw new GraphValidationException($"output {OpArgs.Text(o)} should be [1, {M}, {oh}, {ow}]");
        (Oh, Ow) = ((int)oh, (int)ow);
        (X, W, B) = (a.Ins[0], a.Ins[1], -1);
        if (a.Count == 3 + extra)
        {
            a.NeedConstant(2 + extra, "the bias");
            if (a.Size(2 + extra) != M) throw new GraphValidationException($"bias has {a.Size(2 + extra)} values, expected {M}");
            B = a.Ins[2 + extra];
        }
    }
}

/// <summary>LayerNormalization over the axes from ints axis on (inputs x, scale[, bias]; floats epsilon), through the kernel set's LayerNorm (bit-identical on every path).</summary>
internal sealed class LayerNormStep : GraphStep
{
    private readonly int _x, _g, _b, _rows, _cols;
    private readonly float _eps;
    private readonly float[] _zeros;

    public LayerNormStep(OpArgs a)
    {
        a.NeedInputs(2, 3);
        int[] s = a.Shape(0);
        if (!s.AsSpan().SequenceEqual(a.OutShape)) throw new GraphValidationException("output shape differs from the input's");
        int axis = a.Axis("axis", s.Length);
        _cols = Product(s.AsSpan(axis));
        _rows = a.Size(0) / _cols;
        if (a.Size(1) != _cols || (a.Count == 3 && a.Size(2) != _cols)) throw new GraphValidationException($"scale/bias must have {_cols} values");
        _eps = a.Float("epsilon", 1e-5f);
        if (!(_eps > 0) || float.IsInfinity(_eps)) throw new GraphValidationException($"epsilon {_eps} must be positive and finite");
        (_x, _g, _b) = (a.Ins[0], a.Ins[1], a.Count == 3 ? a.Ins[2] : -1);
        _zeros = _b < 0 ? new float[_cols] : [];
    }

    public override void Run(GraphFrame f) =>
        f.Kernels.LayerNorm(f.In(_x), f.In(_g), _b >= 0 ? f.In(_b) : _zeros, _eps, f.Out(Output), _rows, _cols);
}

/// <summary>Softmax along ints axis (max-subtracted; exp from <see cref="FloatReference.Exp"/>, sums in axis order).</summary>
internal sealed class SoftmaxStep : GraphStep
{
    private readonly int _x, _outer, _dim, _inner;

    public SoftmaxStep(OpArgs a)
    {
        a.NeedInputs(1, 1);
        int[] s = a.Shape(0);
        if (!s.AsSpan().SequenceEqual(a.OutShape)) throw new GraphValidationException("output shape differs from the input's");
        int axis = a.Axis("axis", s.Length);
        (_x, _outer, _dim, _inner) = (a.Ins[0], Product(s.AsSpan(0, axis)), s[axis], Product(s.AsSpan(axis + 1)));
    }

    public override void Run(GraphFrame f)
    {
        ReadOnlySpan<float> x = f.In(_x);
        Span<float> y = f.Out(Output);
        for (int o = 0; o < _outer; o++)
            for (int i = 0; i < _inner; i++)
            {
                int b = o * _dim * _inner + i;
                float max = float.NegativeInfinity;
                for (int j = 0; j < _dim; j++) max = MathF.Max(max, x[b + j * _inner]);
                float sum = 0;
                for (int j = 0; j < _dim; j++)
                {
                    float e = (float)FloatReference.Exp(x[b + j * _inner] - max);
                    y[b + j * _inner] = e;
                    sum += e;
                }
                for (int j = 0; j < _dim; j++) y[b + j * _inner] /= sum;
            }
    }
}

/// <summary>ReduceMean / ReduceSum / ReduceMax / ReduceL2 over ints axes; the output holds the kept axes (with or without keepdims).</summary>
internal sealed class ReduceStep : GraphStep
{
    private enum Kind { Mean, Sum, Max, L2 }
    private readonly Kind _kind;
    private readonly int _x, _count;
    private readonly Walk _walk; // over the input, operand 0 = output offsets (0 stride on reduced axes)

    public ReduceStep(OpArgs a)
    {
        a.NeedInputs(1, 1);
        _kind = a.Op.Op switch { "ReduceMean" => Kind.Mean, "ReduceSum" => Kind.Sum, "ReduceMax" => Kind.Max, _ => Kind.L2 };
        int[] s = a.Shape(0);
        long[] axes = a.Ints("axes");
        var reduced = new bool[s.Length];
        foreach (long ax in axes)
        {
            if (ax < 0 || ax >= s.Length || reduced[ax]) throw new GraphValidationException($"axes [{string.Join(", ", axes)}] are not distinct axes of rank {s.Length}");
            reduced[ax] = true;
        }
        var kept = new List<int>();
        _count = 1;
        for (int i = 0; i < s.Length; i++)
            if (reduced[i]) _count *= s[i]; else kept.Add(s[i]);
        if (Product(kept.ToArray()) != a.P.Sizes[a.Out]) throw new GraphValidationException($"output {OpArgs.Text(a.OutShape)} does not hold the kept axes {OpArgs.Text(kept.ToArray())}");
        var os = new int[s.Length];
        int acc = 1;
        for (int i = s.Length - 1; i >= 0; i--)
        {
            os[i] = reduced[i] ? 0 : acc;
            if (!reduced[i]) acc *= s[i];
        }
        // Walk over the input shape: operand 0 gives the output offset, operand 1 the input offset.
        _walk = new Walk(s, [os, Strides(s)], [0, 0]);
        _x = a.Ins[0];
    }

    private ref struct Kernel(ReadOnlySpan<float> x, Span<float> y, bool max, bool squares) : IRowKernel
    {
        private readonly ReadOnlySpan<float> _x = x;
        private readonly Span<float> _y = y;

        public void Row(int o, int a, int b, int c, int n, int sa, int sb, int sc)
        {
            for (int j = 0; j < n; j++)
            {
                float v = _x[b + j * sb];
                ref float t = ref _y[a + j * sa];
                t = max ? MathF.Max(t, v) : squares ? t + v * v : t + v;
            }
        }
    }

    public override void Run(GraphFrame f)
    {
        Span<float> y = f.Out(Output);
        y.Fill(_kind == Kind.Max ? float.NegativeInfinity : 0f);
        var k = new Kernel(f.In(_x), y, _kind == Kind.Max, _kind == Kind.L2);
        _walk.Run(ref k);
        if (_kind == Kind.Mean) for (int i = 0; i < y.Length; i++) y[i] /= _count;
        else if (_kind == Kind.L2) for (int i = 0; i < y.Length; i++) y[i] = MathF.Sqrt(y[i]);
    }
}
