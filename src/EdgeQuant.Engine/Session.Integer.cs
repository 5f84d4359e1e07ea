using EdgeQuant.Format;

namespace EdgeQuant.Engine;

// Integer-only profile: the residual stream is int32 at one scale S_r; LayerNorm is integer (I-BERT style: integer
// mean, variance and square root); sublayer outputs are requantized into the stream; each linear's int8 input is
// requantized from the stream (or from an integer LayerNorm output). Float appears only in quantizing the input
// pixels, in the dequantized logits, and in the text head (pooler/classifier on one row).
public sealed partial class Session
{
    private void ForwardIntegerVit(Span<float> logits)
    {
        var m = _model;
        var c = m.Config;
        var qc = m.Metadata.Quant!;
        int d = _d;
        Span<int> r = _arena.Get<int>(_r)[..(_t * d)]; // [T, D] residual stream at S_r
        Span<int> acc = _arena.Get<int>(_acc);         // [max(T·3D, T·F, P·D)]
        Span<sbyte> pq = _arena.Get<sbyte>(_patchesQ); // [P, C·p·p]
        _k.QuantizeS8(_arena.Get<float>(_patches), 1f / qc.InputScale, pq);
        Linear(pq, _kp, m.PatchQ, acc, _p);
        m.Integer!.Tokens.AsSpan().CopyTo(r);
        _k.RequantizeAddS32(acc[..(_p * d)], m.PatchQ.Multipliers, m.PatchQ.Shifts, r[(m.PrefixTokens * d)..], _p, d);
        _prof?.Stem(0);
        EncoderInteger();

        Span<int> pooled = _arena.Get<int>(_pooled32); // [D] or [2D]
        long eps = qc.ResidualEps;
        if (c.Pooling is Schema.Poolings.Cls or Schema.Poolings.ClsDist)
        {
            int rows = pooled.Length / d;
            if (c.FinalNorm) _k.LayerNormS32(r[..(rows * d)], eps, default, default, m.Integer.FinalNorm, pooled, rows, d);
            else r[..(rows * d)].CopyTo(pooled);
        }
        else
        {
            Span<int> h = _arena.Get<int>(_h32)[..(_t * d)]; // [T, D]
            if (c.FinalNorm) _k.LayerNormS32(r, eps, default, default, m.Integer.FinalNorm, h, _t, d);
            else r.CopyTo(h);
            for (int j = 0; j < d; j++)
            {
                long sum = 0;
                for (int t = 0; t < _t; t++) sum += h[t * d + j];
                pooled[j] = (int)Kernels.Reference.IntegerLayerNorm.RoundDiv(sum, _t);
            }
        }
        Span<sbyte> pooledQ = _arena.Get<sbyte>(_pooledQ); // [D] or [2D]
        _k.RequantizeRowsS8(pooled, pooled.Length, m.ToHeadInput.Multiplier, m.ToHeadInput.Shift, pooledQ, pooled.Length, 1, pooled.Length);
        Linear(pooledQ, m.PooledLength, m.HeadQ, acc, 1);
        _k.Dequantize(acc, m.HeadQ.DequantScales, logits, 1, c.NumClasses);
        _prof?.Head(0);
    }

    /// <summary>The blocks over the first <see cref="_t"/> rows of the int32 residual stream.</summary>
    private void EncoderInteger()
    {
        var m = _model;
        var c = m.Config;
        int t = _t, d = _d, f = _f;
        long eps = m.Metadata.Quant!.ResidualEps;
        Span<int> r = _arena.Get<int>(_r)[..(t * d)];     // [T, D]
        Span<int> h = _arena.Get<int>(_h32)[..(t * d)];   // [T, D] pre-LN LayerNorm output
        Span<sbyte> hQ = _arena.Get<sbyte>(_hQ);          // [T, D]
        Span<sbyte> ctxQ = _arena.Get<sbyte>(_ctxQ);      // [T, D]
        Span<sbyte> actQ = _arena.Get<sbyte>(_actQ);      // [T, F]
        Span<int> acc = _arena.Get<int>(_acc);            // [max(T·3D, T·F, P·D)]
        for (int i = 0; i < c.Layers; i++)
        {
            var b = m.Blocks[i];
            LinearInput(r, h, b.Ln1Q!, b.ToAttnInput, eps, hQ);
            _prof?.Block(i, SessionProfile.BlockStep.AttnNorm);
            Linear(hQ, d, b.QkvQ, acc, t);
            _prof?.Block(i, SessionProfile.BlockStep.QkvGemm);
            Rows(RowOp.QkvRequantize, i);
            _prof?.Block(i, SessionProfile.BlockStep.QkvRequantize);
            AttentionInt8(_arena.Get<sbyte>(_qkvQ), b.Quant!);
            _prof?.Block(i, SessionProfile.BlockStep.Attention);
            Linear(ctxQ, d, b.OutQ, acc, t);
            _k.RequantizeAddS32(acc[..(t * d)], b.OutQ.Multipliers, b.OutQ.Shifts, r, t, d);
            if (!c.NormFirst) _k.LayerNormS32(r, eps, default, default, b.Ln1Q, r, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.OutGemm);

            LinearInput(r, h, b.Ln2Q!, b.ToMlpInput, eps, hQ);
            _prof?.Block(i, SessionProfile.BlockStep.MlpNorm);
            Linear(hQ, d, b.Fc1Q, acc, t);
            _prof?.Block(i, SessionProfile.BlockStep.Fc1Gemm);
            Rows(RowOp.Activation, i);
            _prof?.Block(i, SessionProfile.BlockStep.Activation);
            Linear(actQ, f, b.Fc2Q, acc, t);
            _k.RequantizeAddS32(acc[..(t * d)], b.Fc2Q.Multipliers, b.Fc2Q.Shifts, r, t, d);
            if (!c.NormFirst) _k.LayerNormS32(r, eps, default, default, b.Ln2Q, r, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.Fc2Gemm);
        }
    }

    /// <summary>int8 input of a linear: the integer LayerNorm of the stream (pre-LN) or the stream itself (post-LN), requantized.</summary>
    private void LinearInput(Span<int> r, Span<int> h, int[] norm, (int Multiplier, int Shift) toInput, long eps, Span<sbyte> hQ)
    {
        int t = _t, d = _d;
        Span<int> src = r;
        if (_model.Config.NormFirst)
        {
            _k.LayerNormS32(r, eps, default, default, norm, h, t, d);
            src = h;
        }
        _k.RequantizeRowsS8(src, d, toInput.Multiplier, toInput.Shift, hQ, d, t, d);
    }

    /// <summary>Text, integer profile: x = integer LayerNorm(Σ requantized int8 embedding rows); then the float view of the stream for the head.</summary>
    private void EmbedTextInteger()
    {
        var w = _model.TextW!;
        var iw = _model.Integer!;
        int d = _d;
        Span<int> r = _arena.Get<int>(_r)[..(_t * d)]; // [T, D]
        ReadOnlySpan<int> ids = _arena.Get<int>(_tokIds), pos = _arena.Get<int>(_tokPos), types = _arena.Get<int>(_tokType); // [T] each
        r.Clear();
        for (int t = 0; t < _t; t++)
        {
            Span<int> row = r.Slice(t * d, d);
            w.Word.AddRowRequantized(ids[t], iw.Word!, row);
            w.Position.AddRowRequantized(pos[t], iw.Position!, row);
            if (w.Type.Rows > 0) w.Type.AddRowRequantized(types[t], iw.Type!, row);
        }
        _k.LayerNormS32(r, _model.Metadata.Quant!.ResidualEps, default, default, iw.EmbedNorm, r, _t, d);
    }

    /// <summary>The float view x = r · S_r of the stream, read by the text head.</summary>
    private void ResidualToFloat()
    {
        float sr = _model.Metadata.Quant!.ResidualScale;
        ReadOnlySpan<int> r = _arena.Get<int>(_r)[..(_t * _d)]; // [T, D]
        Span<float> x = _arena.Get<float>(_x)[..(_t * _d)];      // [T, D]
        for (int i = 0; i < r.Length; i++) x[i] = r[i] * sr;
    }
}
