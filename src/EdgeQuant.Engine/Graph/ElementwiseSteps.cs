using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Graph;

/// <summary>A binary float op (value semantics as ONNX; comparisons give 1 or 0).</summary>
internal interface IBinaryOp { static abstract float Apply(float a, float b); }
internal struct AddOp : IBinaryOp { public static float Apply(float a, float b) => a + b; }
internal struct SubOp : IBinaryOp { public static float Apply(float a, float b) => a - b; }
internal struct MulOp : IBinaryOp { public static float Apply(float a, float b) => a * b; }
internal struct DivOp : IBinaryOp { public static float Apply(float a, float b) => a / b; }
internal struct MaxOp : IBinaryOp { public static float Apply(float a, float b) => MathF.Max(a, b); }
internal struct MinOp : IBinaryOp { public static float Apply(float a, float b) => MathF.Min(a, b); }
internal struct EqualOp : IBinaryOp { public static float Apply(float a, float b) => a == b ? 1f : 0f; }
/// <summary>x^y: the exponents graphs use (integers up to 4, ±0.5) exactly by multiplication and square root; others through <see cref="FloatReference.Exp"/>.</summary>
internal struct PowOp : IBinaryOp
{
    public static float Apply(float a, float b) => b switch
    {
        2f => a * a,
        3f => a * a * a,
        1f => a,
        0.5f => MathF.Sqrt(a),
        4f => (a * a) * (a * a),
        0f => 1f,
        -0.5f => 1f / MathF.Sqrt(a),
        -1f => 1f / a,
        _ => a > 0 ? (float)FloatReference.Pow(a, b) : MathF.Pow(a, b),
    };
}

/// <summary>A unary float op; p0/p1 carry Clip's bounds or Cast's target.</summary>
internal interface IUnaryOp { static abstract float Apply(float x, float p0, float p1); }
internal struct SqrtOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => MathF.Sqrt(x); }
internal struct ErfOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => (float)FloatReference.Erf(x); }
internal struct TanhOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => FloatReference.Tanh(x); }
internal struct SigmoidOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => (float)(1.0 / (1.0 + FloatReference.Exp(-(double)x))); }
internal struct ReluOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => MathF.Max(x, 0f); }
internal struct NegOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => -x; }
internal struct AbsOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => MathF.Abs(x); }
internal struct ExpOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => (float)FloatReference.Exp(x); }
internal struct ReciprocalOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => 1f / x; }
internal struct GeluOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => (float)(0.5 * x * (1.0 + FloatReference.Erf(x * 0.70710678118654752))); }
internal struct ClipOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => MathF.Min(MathF.Max(x, p0), p1); }
/// <summary>Cast in a float-only graph: p0 = 0 keeps the value, 1 truncates toward zero (integer types), 2 gives x ≠ 0 (bool).</summary>
internal struct CastOp : IUnaryOp { public static float Apply(float x, float p0, float p1) => p0 == 0 ? x : p0 == 1 ? MathF.Truncate(x) : x != 0 ? 1f : 0f; }

/// <summary>Unary elementwise op over a contiguous value.</summary>
internal sealed class UnaryStep<TOp> : GraphStep where TOp : struct, IUnaryOp
{
    private readonly int _x;
    private readonly float _p0, _p1;

    public UnaryStep(OpArgs a)
    {
        a.NeedInputs(1, 1);
        if (!a.Shape(0).AsSpan().SequenceEqual(a.OutShape)) throw new GraphValidationException($"output {OpArgs.Text(a.OutShape)} differs from the input {OpArgs.Text(a.Shape(0))}");
        _x = a.Ins[0];
        if (typeof(TOp) == typeof(ClipOp))
        {
            (_p0, _p1) = (a.Float("min", float.NegativeInfinity), a.Float("max", float.PositiveInfinity));
            if (_p0 > _p1) throw new GraphValidationException($"Clip min {_p0} > max {_p1}");
        }
        if (typeof(TOp) == typeof(CastOp))
        {
            long to = a.Int("to", 1);
            _p0 = to switch
            {
                1 or 10 or 11 or 16 => 0, // float types
                9 => 2,                   // bool
                2 or 3 or 4 or 5 or 6 or 7 or 12 or 13 => 1,
                _ => throw new GraphValidationException($"Cast to ONNX type {to} is not supported"),
            };
        }
    }

    public override void Run(GraphFrame f)
    {
        ReadOnlySpan<float> x = f.In(_x);
        Span<float> y = f.Out(Output);
        for (int i = 0; i < x.Length; i++) y[i] = TOp.Apply(x[i], _p0, _p1);
    }
}

/// <summary>Binary elementwise op with numpy broadcasting.</summary>
internal sealed class BinaryStep<TOp> : GraphStep where TOp : struct, IBinaryOp
{
    private readonly int _a, _b;
    private readonly Walk _walk;

    public BinaryStep(OpArgs a)
    {
        a.NeedInputs(2, 2);
        (_a, _b) = (a.Ins[0], a.Ins[1]);
        _walk = new Walk(a.OutShape, [Walk.BroadcastStrides(a.Shape(0), a.OutShape), Walk.BroadcastStrides(a.Shape(1), a.OutShape)], [0, 0]);
    }

    private ref struct Kernel(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) : IRowKernel
    {
        private readonly ReadOnlySpan<float> _a = a, _b = b;
        private readonly Span<float> _y = y;

        public void Row(int o, int a, int b, int c, int n, int sa, int sb, int sc)
        {
            for (int j = 0; j < n; j++) _y[o + j] = TOp.Apply(_a[a + j * sa], _b[b + j * sb]);
        }
    }

    public override void Run(GraphFrame f)
    {
        var k = new Kernel(f.In(_a), f.In(_b), f.Out(Output));
        _walk.Run(ref k);
    }
}

/// <summary>Where(cond, a, b): a where cond ≠ 0, else b; broadcasting.</summary>
internal sealed class WhereStep : GraphStep
{
    private readonly int _c, _a, _b;
    private readonly Walk _walk;

    public WhereStep(OpArgs a)
    {
        a.NeedInputs(3, 3);
        (_c, _a, _b) = (a.Ins[0], a.Ins[1], a.Ins[2]);
        _walk = new Walk(a.OutShape,
            [Walk.BroadcastStrides(a.Shape(0), a.OutShape), Walk.BroadcastStrides(a.Shape(1), a.OutShape), Walk.BroadcastStrides(a.Shape(2), a.OutShape)], [0, 0, 0]);
    }

    private ref struct Kernel(ReadOnlySpan<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) : IRowKernel
    {
        private readonly ReadOnlySpan<float> _c = c, _a = a, _b = b;
        private readonly Span<float> _y = y;

        public void Row(int o, int c, int a, int b, int n, int sc, int sa, int sb)
        {
            for (int j = 0; j < n; j++) _y[o + j] = _c[c + j * sc] != 0 ? _a[a + j * sa] : _b[b + j * sb];
        }
    }

    public override void Run(GraphFrame f)
    {
        var k = new Kernel(f.In(_c), f.In(_a), f.In(_b), f.Out(Output));
        _walk.Run(ref k);
    }
}
