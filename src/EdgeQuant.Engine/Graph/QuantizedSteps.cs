using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Graph;

/// <summary>
/// The scale pair of an int8 graph op: x is quantized per tensor at inputScale, W per output channel at wScale[n]; the
/// int32 product is dequantized by inputScale · wScale[n] (computed once at load, so every path multiplies by the same
/// float).
/// </summary>
internal static unsafe class Int8OpScales
{
    public static (float InvInput, float[] Out) Load(OpArgs a, int scaleInput, int channels)
    {
        float sx = a.Float("inputScale", float.NaN);
        if (!(sx > 0) || !float.IsFinite(sx)) throw new GraphValidationException($"inputScale {sx} must be positive and finite");
        a.NeedConstant(scaleInput, "the weight scales");
        if (a.Size(scaleInput) != channels) throw new GraphValidationException($"weight scales have {a.Size(scaleInput)} values, expected {channels}");
        float* ws = a.P.Constants[a.Ins[scaleInput]];
        var o = new float[channels];
        for (int n = 0; n < channels; n++)
        {
            if (!(ws[n] >= 0 && ws[n] <= FiniteF32.MaxDequantScale)) throw new GraphValidationException($"weight scale {n} = {ws[n]} is not in [0, {FiniteF32.MaxDequantScale}]");
            o[n] = sx * ws[n];
        }
        return (1f / sx, o);
    }
}

/// <summary>
/// y [.., N] = (q(x) · Wqᵀ) · scale[n] (+ b): the int8 form of <see cref="LinearStep"/> where a stem or head linear
/// carries enough multiply-adds to pay for quantizing its input (inputs x, Wq [N, K] int8, wScale [N][, b]).
/// The kernel set's QuantizeS8 and GemmS8S8 are bit-exact with the reference, so are the outputs on every path.
/// </summary>
internal sealed class LinearS8Step : GraphStep
{
    private readonly int _x, _w, _b, _rows, _n, _k;
    private readonly float _invScale;
    private readonly float[] _scale; // [N]

    public LinearS8Step(OpArgs a)
    {
        a.NeedInputs(3, 4);
        (_x, _w, _rows, _n, _k) = LinearStep.Shape(a);
        (_invScale, _scale) = Int8OpScales.Load(a, 2, _n);
        _b = -1;
        if (a.Count == 4)
        {
            a.NeedConstant(3, "the bias");
            if (a.Size(3) != _n) throw new GraphValidationException($"bias has {a.Size(3)} values, expected {_n}");
            _b = a.Ins[3];
        }
    }

    public override int ScratchS8 => _rows * _k;
    public override int ScratchI32 => _rows * _n;

    public override void Run(GraphFrame f)
    {
        var k = f.Kernels;
        Span<sbyte> xq = f.ScratchS8[..(_rows * _k)]; // [rows, K]
        Span<int> acc = f.ScratchI32[..(_rows * _n)];  // [rows, N]
        Span<float> y = f.Out(Output);                 // [rows, N]
        k.QuantizeS8(f.In(_x), _invScale, xq);
        k.GemmS8S8(xq, _k, f.InS8(_w), _k, default, acc, _n, _rows, _n, _k);
        k.Dequantize(acc, _scale, y, _rows, _n);
        if (_b >= 0)
        {
            ReadOnlySpan<float> b = f.In(_b); // [N]
            for (int r = 0; r < _rows; r++)
                for (int j = 0; j < _n; j++) y[r * _n + j] += b[j];
        }
    }
}

/// <summary>
/// The int8 form of <see cref="ConvStep"/> (one group): x is quantized, cut into patches (im2col, [OH·OW, C·kh·kw],
/// zero padding is code 0), multiplied by Wq [M, C·kh·kw] with the int8 GEMM and dequantized per output channel
/// (inputs x, Wq [M, C, kh, kw] int8, wScale [M][, b]).
/// </summary>
internal sealed class ConvS8Step : GraphStep
{
    private readonly ConvGeometry _g;
    private readonly float _invScale;
    private readonly float[] _scale; // [M]
    private readonly int _patch, _pixels;

    public ConvS8Step(OpArgs a)
    {
        _g = new ConvGeometry(a, extra: 1);
        if (_g.Group != 1) throw new GraphValidationException($"group {_g.Group}: ConvS8 takes one group");
        (_invScale, _scale) = Int8OpScales.Load(a, 2, _g.M);
        (_patch, _pixels) = (_g.C * _g.Kh * _g.Kw, _g.Oh * _g.Ow);
    }

    public override int ScratchS8 => _g.C * _g.H * _g.Wd + _pixels * _patch;
    public override int ScratchI32 => _pixels * _g.M;

    public override void Run(GraphFrame f)
    {
        var g = _g;
        var k = f.Kernels;
        Span<sbyte> scratch = f.ScratchS8;
        Span<sbyte> xq = scratch[..(g.C * g.H * g.Wd)];                           // [C, H, W]
        Span<sbyte> cols = scratch.Slice(xq.Length, _pixels * _patch);            // [OH·OW, C·kh·kw]
        Span<int> acc = f.ScratchI32[..(_pixels * g.M)];                          // [OH·OW, M]
        Span<float> y = f.Out(Output);                                            // [M, OH, OW]
        k.QuantizeS8(f.In(g.X), _invScale, xq);
        for (int oy = 0, p = 0; oy < g.Oh; oy++)
            for (int ox = 0; ox < g.Ow; ox++, p++)
            {
                Span<sbyte> row = cols.Slice(p * _patch, _patch);
                int i = 0;
                for (int c = 0; c < g.C; c++)
                    for (int ky = 0; ky < g.Kh; ky++)
                    {
                        int iy = oy * g.Sh - g.Pt + ky * g.Dh;
                        for (int kx = 0; kx < g.Kw; kx++, i++)
                        {
                            int ix = ox * g.Sw - g.Pl + kx * g.Dw;
                            row[i] = (uint)iy < (uint)g.H && (uint)ix < (uint)g.Wd ? xq[(c * g.H + iy) * g.Wd + ix] : (sbyte)0;
                        }
                    }
            }
        k.GemmS8S8(cols, _patch, f.InS8(g.W), _patch, default, acc, g.M, _pixels, g.M, _patch);
        ReadOnlySpan<float> b = g.B >= 0 ? f.In(g.B) : default; // [M]
        for (int m = 0; m < g.M; m++)
        {
            float s = _scale[m];
            for (int p = 0; p < _pixels; p++)
            {
                float v = acc[p * g.M + m] * s; // the same single rounding as Dequantize
                y[m * _pixels + p] = b.IsEmpty ? v : v + b[m];
            }
        }
    }
}
