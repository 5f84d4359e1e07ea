namespace EdgeQuant.Engine.Graph;

/// <summary>Reshape / Flatten / Squeeze / Unsqueeze / Identity: the same elements under the output value's shape.</summary>
internal sealed class CopyStep : GraphStep
{
    private readonly int _x;

    public CopyStep(OpArgs a)
    {
        a.NeedInputs(1, 1);
        if (a.Size(0) != a.P.Sizes[a.Out]) throw new GraphValidationException($"input {OpArgs.Text(a.Shape(0))} and output {OpArgs.Text(a.OutShape)} differ in size");
        _x = a.Ins[0];
    }

    public override void Run(GraphFrame f) => f.In(_x).CopyTo(f.Out(Output));
}

/// <summary>Transpose, Expand and Slice: a copy through a <see cref="Walk"/> over the input.</summary>
internal sealed class StridedCopyStep : GraphStep
{
    private readonly int _x;
    private readonly Walk _walk;

    private StridedCopyStep(int x, Walk walk) => (_x, _walk) = (x, walk);

    /// <summary>ints perm: output axis i is input axis perm[i].</summary>
    public static StridedCopyStep Transpose(OpArgs a)
    {
        a.NeedInputs(1, 1);
        int[] s = a.Shape(0), o = a.OutShape;
        long[] perm = a.Ints("perm", s.Length);
        if (o.Length != s.Length) throw new GraphValidationException("output rank differs from the input's");
        var seen = new bool[s.Length];
        int[] st = Strides(s), ps = new int[s.Length];
        for (int i = 0; i < perm.Length; i++)
        {
            if (perm[i] < 0 || perm[i] >= s.Length || seen[perm[i]]) throw new GraphValidationException($"perm [{string.Join(", ", perm)}] is not a permutation");
            seen[perm[i]] = true;
            if (o[i] != s[perm[i]]) throw new GraphValidationException($"output {OpArgs.Text(o)} is not the input {OpArgs.Text(s)} permuted");
            ps[i] = st[perm[i]];
        }
        return new StridedCopyStep(a.Ins[0], new Walk(o, [ps], [0]));
    }

    /// <summary>Broadcast of the input (first input) to the output shape; a second input (the shape) is ignored.</summary>
    public static StridedCopyStep Expand(OpArgs a)
    {
        a.NeedInputs(1, 2);
        return new StridedCopyStep(a.Ins[0], new Walk(a.OutShape, [Walk.BroadcastStrides(a.Shape(0), a.OutShape)], [0]));
    }

    /// <summary>ints starts, steps: one per input axis (normalized; the output shape gives the count per axis).</summary>
    public static StridedCopyStep Slice(OpArgs a)
    {
        a.NeedInputs(1, 1);
        int[] s = a.Shape(0), o = a.OutShape;
        if (o.Length != s.Length) throw new GraphValidationException("output rank differs from the input's");
        long[] starts = a.Ints("starts", s.Length), steps = a.Ints("steps", s.Length);
        int[] st = Strides(s), ss = new int[s.Length];
        long baseOff = 0;
        for (int i = 0; i < s.Length; i++)
        {
            long first = starts[i], last = starts[i] + (o[i] - 1) * steps[i];
            if (steps[i] == 0 || first < 0 || first >= s[i] || last < 0 || last >= s[i])
                throw new GraphValidationException($"axis {i}: {o[i]} elements from {starts[i]} by {steps[i]} fall outside the input's {s[i]}");
            baseOff += first * st[i];
            ss[i] = (int)(steps[i] * st[i]);
        }
        return new StridedCopyStep(a.Ins[0], new Walk(o, [ss], [(int)baseOff]));
    }

    private ref struct Kernel(ReadOnlySpan<float> x, Span<float> y) : IRowKernel
    {
        private readonly ReadOnlySpan<float> _x = x;
        private readonly Span<float> _y = y;

        public void Row(int o, int a, int b, int c, int n, int sa, int sb, int sc)
        {
            if (sa == 1) { _x.Slice(a, n).CopyTo(_y.Slice(o, n)); return; }
            for (int j = 0; j < n; j++) _y[o + j] = _x[a + j * sa];
        }
    }

    public override void Run(GraphFrame f)
    {
        var k = new Kernel(f.In(_x), f.Out(Output));
        _walk.Run(ref k);
    }
}

/// <summary>Concat along ints axis.</summary>
internal sealed class ConcatStep : GraphStep
{
    private readonly int[] _ins, _inner; // per input: value, elements per outer index
    private readonly int _outer;

    public ConcatStep(OpArgs a)
    {
        a.NeedInputs(1, 64);
        int[] o = a.OutShape;
        int axis = a.Axis("axis", o.Length), sum = 0;
        _ins = a.Ins;
        _inner = new int[a.Count];
        for (int i = 0; i < a.Count; i++)
        {
            int[] s = a.Shape(i);
            if (s.Length != o.Length) throw new GraphValidationException($"input {i} {OpArgs.Text(s)} has another rank than the output {OpArgs.Text(o)}");
            for (int d = 0; d < o.Length; d++)
                if (d != axis && s[d] != o[d]) throw new GraphValidationException($"input {i} {OpArgs.Text(s)} differs from the output {OpArgs.Text(o)} off axis {axis}");
            sum += s[axis];
            _inner[i] = Product(s.AsSpan(axis));
        }
        if (sum != o[axis]) throw new GraphValidationException($"inputs add up to {sum} along axis {axis}, the output has {o[axis]}");
        _outer = Product(o.AsSpan(0, axis));
    }

    public override void Run(GraphFrame f)
    {
        Span<float> y = f.Out(Output);
        int o = 0;
        for (int r = 0; r < _outer; r++)
            for (int i = 0; i < _ins.Length; i++)
            {
                int n = _inner[i];
                f.In(_ins[i]).Slice(r * n, n).CopyTo(y.Slice(o, n));
                o += n;
            }
    }
}

/// <summary>Gather(data, indices) along ints axis; indices are float values holding integers (negative counts from the end).</summary>
internal sealed class GatherStep : GraphStep
{
    private readonly int _data, _idx, _outer, _dim, _inner;

    public GatherStep(OpArgs a)
    {
        a.NeedInputs(2, 2);
        int[] s = a.Shape(0), ix = a.Shape(1), o = a.OutShape;
        int axis = a.Axis("axis", s.Length);
        int[] expect = [.. s.AsSpan(0, axis), .. ix, .. s.AsSpan(axis + 1)];
        if (!expect.AsSpan().SequenceEqual(o)) throw new GraphValidationException($"output {OpArgs.Text(o)} should be {OpArgs.Text(expect)}");
        (_data, _idx) = (a.Ins[0], a.Ins[1]);
        (_outer, _dim, _inner) = (Product(s.AsSpan(0, axis)), s[axis], Product(s.AsSpan(axis + 1)));
        // Constant indices are part of the file: checked here, so a bad one is a format error at load, not a run-time one.
        if (a.P.IsConstant(_idx))
            unsafe
            {
                float* c = a.P.Constants[_idx];
                for (int i = 0; i < a.Size(1); i++)
                    if ((int)c[i] != c[i] || c[i] < -_dim || c[i] >= _dim) throw new GraphValidationException($"constant index {c[i]} at {i} is not an integer in [-{_dim}, {_dim})");
            }
    }

    public override void Run(GraphFrame f)
    {
        ReadOnlySpan<float> x = f.In(_data), idx = f.In(_idx);
        Span<float> y = f.Out(Output);
        int o = 0;
        for (int r = 0; r < _outer; r++)
            for (int i = 0; i < idx.Length; i++)
            {
                float v = idx[i];
                int k = (int)v;
                if (k != v || k < -_dim || k >= _dim) ThrowIndex(v);
                if (k < 0) k += _dim;
                x.Slice((r * _dim + k) * _inner, _inner).CopyTo(y.Slice(o, _inner));
                o += _inner;
            }
    }

    private void ThrowIndex(float v) => throw new ArgumentException($"node '{Node}' (Gather): index {v} is outside [-{_dim}, {_dim})");
}
