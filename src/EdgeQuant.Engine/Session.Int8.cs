namespace EdgeQuant.Engine;

// INT8 path, mixed profile: float residual stream and LayerNorm; int8 GEMMs with int32 accumulation,
// fixed-point requantization, softmax and GELU in between (FP32 → LayerNorm → quantize → INT8 proj → dequantize).
public sealed partial class Session
{
    private void ForwardInt8(Span<float> logits)
    {
        var m = _model;
        var c = m.Config;
        var qc = m.Metadata.Quant!;
        int t = _t, d = _d, f = _f;
        Span<float> x = _arena.Get<float>(_x);        // [T, D]
        Span<float> h = _arena.Get<float>(_h);        // [T, D]
        Span<sbyte> hQ = _arena.Get<sbyte>(_hQ);      // [T, D]
        Span<sbyte> qkv = _arena.Get<sbyte>(_qkvQ);   // [T, 3D]
        Span<sbyte> ctxQ = _arena.Get<sbyte>(_ctxQ);  // [T, D]
        Span<sbyte> actQ = _arena.Get<sbyte>(_actQ);  // [T, F]
        Span<int> acc = _arena.Get<int>(_acc);        // [max(T·3D, T·F, P·D)]

        // Patch embedding.
        Span<sbyte> pq = _arena.Get<sbyte>(_patchesQ); // [P, C·p·p]
        _k.QuantizeS8(_arena.Get<float>(_patches), 1f / qc.InputScale, pq);
        Linear(pq, _kp, m.PatchQ, acc, _p);
        int first = c.ClassToken ? 1 : 0;
        _k.Dequantize(acc, m.PatchQ.DequantScales, x[(first * d)..], _p, d);
        AddTokenAndPositions(x);

        for (int i = 0; i < c.Layers; i++)
        {
            var b = m.Blocks[i];
            var bq = b.Quant!;
            Span<float> src = x;
            if (c.NormFirst)
            {
                _k.LayerNorm(x, b.Ln1.Gamma, b.Ln1.Beta, c.LayerNormEps, h, t, d);
                src = h;
            }
            _k.QuantizeS8(src, 1f / bq.AttnInputScale, hQ);
            Linear(hQ, d, b.QkvQ, acc, t);
            _k.RequantizeRowsS8(acc, 3 * d, b.QkvQ.Multipliers, b.QkvQ.Shifts, qkv, 3 * d, t, 3 * d);
            AttentionInt8(qkv, bq);
            Linear(ctxQ, d, b.OutQ, acc, t);
            _k.DequantizeAdd(acc, b.OutQ.DequantScales, x, t, d);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln1.Gamma, b.Ln1.Beta, c.LayerNormEps, x, t, d);

            src = x;
            if (c.NormFirst)
            {
                _k.LayerNorm(x, b.Ln2.Gamma, b.Ln2.Beta, c.LayerNormEps, h, t, d);
                src = h;
            }
            _k.QuantizeS8(src, 1f / bq.MlpInputScale, hQ);
            Linear(hQ, d, b.Fc1Q, acc, t);
            if (c.Activation == "gelu")
                _k.GeluRowsS8(acc, b.Fc1Q.Multipliers, b.Fc1Q.Shifts, bq.ActMultiplier, bq.ActShift, actQ, t, f);
            else
                _k.ReluRowsS8(acc, b.Fc1Q.Multipliers, b.Fc1Q.Shifts, actQ, t, f);
            Linear(actQ, f, b.Fc2Q, acc, t);
            _k.DequantizeAdd(acc, b.Fc2Q.DequantScales, x, t, d);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln2.Gamma, b.Ln2.Beta, c.LayerNormEps, x, t, d);
        }

        Pool(x);
        Span<sbyte> pooledQ = _arena.Get<sbyte>(_pooledQ); // [D]
        _k.QuantizeS8(_arena.Get<float>(_pooled), 1f / qc.HeadInputScale, pooledQ);
        Linear(pooledQ, d, m.HeadQ, acc, 1);
        _k.Dequantize(acc, m.HeadQ.DequantScales, logits, 1, c.NumClasses);
    }

    /// <summary>Integer attention: s8 Q·Kᵀ → fixed-point softmax (u8, 2^−8) → P·V (u8×s8) → requantized s8 context.</summary>
    private void AttentionInt8(ReadOnlySpan<sbyte> qkv, Format.BlockQuant bq)
    {
        int t = _t, d = _d;
        Span<sbyte> vt = _arena.Get<sbyte>(_vt); // [heads, dh, T]
        // V arrives [T, 3D]; the NT GEMM wants it [dh, T] per head.
        for (int r = 0; r < t; r++)
            for (int j = 0; j < d; j++)
                vt[j * t + r] = qkv[r * 3 * d + 2 * d + j];
        if (_pool != null)
        {
            _headJob.Quant = bq;
            _pool.Run(_headJob, _heads);
        }
        else
            for (int hd = 0; hd < _heads; hd++) AttentionHead(hd, 0, bq);
    }

    /// <summary>One head: scores, softmax rows, P·V and requantization into its columns of the context.</summary>
    internal void AttentionHead(int hd, int worker, Format.BlockQuant bq)
    {
        int t = _t, d = _d, dh = _dh, o = hd * dh;
        ReadOnlySpan<sbyte> qkv = _arena.Get<sbyte>(_qkvQ);  // [T, 3D]
        ReadOnlySpan<sbyte> vt = _arena.Get<sbyte>(_vt);     // [heads, dh, T]
        Span<sbyte> ctxQ = _arena.Get<sbyte>(_ctxQ);         // [T, D]
        Span<int> scores = _arena.Get<int>(_scoreAcc[worker]);  // [T, T]
        Span<byte> probs = _arena.Get<byte>(_probs[worker]);    // [T, T]
        Span<int> scratch = _arena.Get<int>(_smScratch[worker]); // [T]
        Span<int> acc = _arena.Get<int>(_ctxAcc[worker]);       // [T, dh]
        _k.GemmS8S8(qkv[o..], 3 * d, qkv[(d + o)..], 3 * d, default, scores, t, t, t, dh);
        for (int r = 0; r < t; r++)
            _k.SoftmaxRow(scores.Slice(r * t, t), bq.ScoreMultiplier, bq.ScoreShift, scratch, probs.Slice(r * t, t));
        _k.GemmU8S8(probs, t, vt.Slice(o * t, dh * t), t, default, acc, dh, t, dh, t);
        _k.RequantizeRowsS8(acc, dh, bq.ContextMultiplier, bq.ContextShift, ctxQ[o..], d, t, dh);
    }

    /// <summary>
    /// acc [m, l.Out] = a [m, l.In] · Wᵀ + bias: the 7-bit-weight kernel when the model has it, split over the
    /// session's threads when large enough to pay for the dispatch.
    /// </summary>
    private void Linear(ReadOnlySpan<sbyte> a, int lda, in LinearS8 l, Span<int> acc, int m)
    {
        const long MinMacs = 1 << 18;
        int n = l.Out, k = l.In;
        if (_pool != null && (long)m * n * k >= MinMacs && n >= 24)
            _pool.Run(_gemmJob, _gemmJob.Prepare(_k, a, lda, l, acc, m, _pool.Threads));
        else if (l.SevenBit)
            _k.GemmS8S7(a, lda, l.W, k, l.Bias, l.WeightSums, acc, n, m, n, k);
        else
            _k.GemmS8S8(a, lda, l.W, k, l.Bias, acc, n, m, n, k);
    }
}
