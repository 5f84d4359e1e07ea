using EdgeQuant.Kernels.Reference;
using EdgeQuant.Format;

namespace EdgeQuant.Engine;

// FP32 reference path: the float model the int8 path is measured against, and the calibration source.
public sealed partial class Session
{
    private void ForwardF32(Span<float> logits)
    {
        var m = _model;
        var c = m.Config;
        int d = _d;
        Span<float> patches = _arena.Get<float>(_patches); // [P, C·p·p]
        Span<float> x = _arena.Get<float>(_x);             // [T, D]

        _obs?.Observe(ActivationSite.PatchInput, -1, patches);
        int first = m.PrefixTokens;
        _k.GemmF32(patches, _kp, m.PatchF.W, _kp, m.PatchF.B, x[(first * d)..], d, _p, d, _kp);
        AddTokenAndPositions(x);
        _obs?.Observe(ActivationSite.Residual, -1, x);
        _prof?.Stem(0);
        EncoderF32();

        Pool(x);
        Span<float> pooled = _arena.Get<float>(_pooled);
        _obs?.Observe(ActivationSite.HeadInput, -1, pooled);
        _k.GemmF32(pooled, m.PooledLength, m.HeadF.W, m.PooledLength, m.HeadF.B, logits, c.NumClasses, 1, c.NumClasses, m.PooledLength);
        _prof?.Head(0);
    }

    /// <summary>The encoder blocks over the first <see cref="_t"/> rows of the residual stream.</summary>
    private void EncoderF32()
    {
        var m = _model;
        var c = m.Config;
        int t = _t, d = _d, f = _f;
        Span<float> x = _arena.Get<float>(_x)[..(t * d)];             // [T, D]
        Span<float> h = _arena.Get<float>(_h)[..(t * d)];             // [T, D]
        Span<float> q = _arena.Get<float>(_q)[..(t * d)], k = _arena.Get<float>(_kf)[..(t * d)], v = _arena.Get<float>(_v)[..(t * d)]; // [T, D]
        Span<float> ctx = _arena.Get<float>(_ctx)[..(t * d)];         // [T, D]
        Span<float> mlp = _arena.Get<float>(_mlp)[..(t * f)];         // [T, F]
        for (int i = 0; i < c.Layers; i++)
        {
            var b = m.Blocks[i];
            Span<float> src = x;
            if (c.NormFirst)
            {
                _k.LayerNorm(x, b.Ln1.Gamma, b.Ln1.Beta, c.LayerNormEps, h, t, d);
                src = h;
            }
            _prof?.Block(i, SessionProfile.BlockStep.AttnNorm);
            _obs?.Observe(ActivationSite.AttnInput, i, src);
            ReadOnlySpan<float> w = b.QkvF.W, bias = b.QkvF.B; // [3D, D], [3D]
            _k.GemmF32(src, d, w[..(d * d)], d, bias[..d], q, d, t, d, d);
            _k.GemmF32(src, d, w.Slice(d * d, d * d), d, bias.Slice(d, d), k, d, t, d, d);
            _k.GemmF32(src, d, w.Slice(2 * d * d, d * d), d, bias.Slice(2 * d, d), v, d, t, d, d);
            _obs?.Observe(ActivationSite.Query, i, q);
            _obs?.Observe(ActivationSite.Key, i, k);
            _obs?.Observe(ActivationSite.Value, i, v);
            _prof?.Block(i, SessionProfile.BlockStep.QkvGemm);
            AttentionF32(q, k, v, ctx);
            _prof?.Block(i, SessionProfile.BlockStep.Attention);
            _obs?.Observe(ActivationSite.Context, i, ctx);
            _k.GemmF32(ctx, d, b.OutF.W, d, b.OutF.B, h, d, t, d, d);
            AddInPlace(x, h);
            _obs?.Observe(ActivationSite.Residual, i, x);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln1.Gamma, b.Ln1.Beta, c.LayerNormEps, x, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.OutGemm);

            src = x;
            if (c.NormFirst)
            {
                _k.LayerNorm(x, b.Ln2.Gamma, b.Ln2.Beta, c.LayerNormEps, h, t, d);
                src = h;
            }
            _prof?.Block(i, SessionProfile.BlockStep.MlpNorm);
            _obs?.Observe(ActivationSite.MlpInput, i, src);
            _k.GemmF32(src, d, b.Fc1F.W, d, b.Fc1F.B, mlp, f, t, f, d);
            _prof?.Block(i, SessionProfile.BlockStep.Fc1Gemm);
            _obs?.Observe(ActivationSite.MlpPreActivation, i, mlp);
            if (c.Activation == Schema.Activations.Gelu)
                for (int j = 0; j < mlp.Length; j++) mlp[j] = FloatReference.Gelu(mlp[j]);
            else
                for (int j = 0; j < mlp.Length; j++) mlp[j] = MathF.Max(mlp[j], 0f);
            _prof?.Block(i, SessionProfile.BlockStep.Activation);
            _obs?.Observe(ActivationSite.MlpActivation, i, mlp);
            _k.GemmF32(mlp, f, b.Fc2F.W, f, b.Fc2F.B, h, d, t, d, f);
            AddInPlace(x, h);
            _obs?.Observe(ActivationSite.Residual, i, x);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln2.Gamma, b.Ln2.Beta, c.LayerNormEps, x, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.Fc2Gemm);
        }
    }

    /// <summary>Multi-head scaled dot-product attention in float: ctx_h = softmax(q_h k_hᵀ / √dh) v_h.</summary>
    private void AttentionF32(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> ctx)
    {
        int t = _t, d = _d, dh = _dh;
        Span<float> s = _arena.Get<float>(_scores)[..(t * t)]; // [T, T]
        float scale = 1f / MathF.Sqrt(dh);
        for (int hd = 0; hd < _heads; hd++)
        {
            int o = hd * dh;
            _k.GemmF32(q[o..], d, k[o..], d, default, s, t, t, t, dh);
            for (int r = 0; r < t; r++)
            {
                Span<float> row = s.Slice(r * t, t);
                for (int j = 0; j < t; j++) row[j] *= scale;
                FloatReference.Softmax(row);
                Span<float> out_ = ctx.Slice(r * d + o, dh);
                out_.Clear();
                for (int j = 0; j < t; j++) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v.Slice(j * d + o, dh), row[j], out_, out_);
            }
        }
    }

    private static void AddInPlace(Span<float> x, ReadOnlySpan<float> y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
