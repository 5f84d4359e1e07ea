using EdgeQuant.Format;

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
        int d = _d;
        Span<float> x = _arena.Get<float>(_x);        // [T, D]
        Span<int> acc = _arena.Get<int>(_acc);        // [max(T·3D, T·F, P·D)]

        // Patch embedding.
        Span<sbyte> pq = _arena.Get<sbyte>(_patchesQ); // [P, C·p·p]
        _k.QuantizeS8(_arena.Get<float>(_patches), 1f / qc.InputScale, pq);
        Linear(pq, _kp, m.PatchQ, acc, _p);
        int first = m.PrefixTokens;
        _k.Dequantize(acc, m.PatchQ.DequantScales, x[(first * d)..], _p, d);
        AddTokenAndPositions(x);
        _prof?.Stem(0);
        EncoderInt8();

        Pool(x);
        Span<sbyte> pooledQ = _arena.Get<sbyte>(_pooledQ); // [D] or [2D]
        _k.QuantizeS8(_arena.Get<float>(_pooled), 1f / qc.HeadInputScale, pooledQ);
        Linear(pooledQ, m.PooledLength, m.HeadQ, acc, 1);
        _k.Dequantize(acc, m.HeadQ.DequantScales, logits, 1, c.NumClasses);
        _prof?.Head(0);
    }

    /// <summary>The integer encoder blocks over the first <see cref="_t"/> rows of the float residual stream.</summary>
    private void EncoderInt8()
    {
        var m = _model;
        var c = m.Config;
        int t = _t, d = _d, f = _f;
        Span<float> x = _arena.Get<float>(_x)[..(t * d)]; // [T, D]
        Span<sbyte> hQ = _arena.Get<sbyte>(_hQ);          // [T, D]
        Span<sbyte> qkv = _arena.Get<sbyte>(_qkvQ);       // [T, 3D]
        Span<sbyte> ctxQ = _arena.Get<sbyte>(_ctxQ);      // [T, D]
        Span<sbyte> actQ = _arena.Get<sbyte>(_actQ);      // [T, F]
        Span<int> acc = _arena.Get<int>(_acc);            // [max(T·3D, T·F, P·D)]
        for (int i = 0; i < c.Layers; i++)
        {
            var b = m.Blocks[i];
            var bq = b.Quant!;
            Rows(RowOp.Norm1Quantize, i);
            _prof?.Block(i, SessionProfile.BlockStep.AttnNorm);
            Linear(hQ, d, b.QkvQ, acc, t);
            _prof?.Block(i, SessionProfile.BlockStep.QkvGemm);
            Rows(RowOp.QkvRequantize, i);
            _prof?.Block(i, SessionProfile.BlockStep.QkvRequantize);
            AttentionInt8(qkv, bq);
            _prof?.Block(i, SessionProfile.BlockStep.Attention);
            Linear(ctxQ, d, b.OutQ, acc, t);
            _k.DequantizeAdd(acc, b.OutQ.DequantScales, x, t, d);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln1.Gamma, b.Ln1.Beta, c.LayerNormEps, x, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.OutGemm);

            Rows(RowOp.Norm2Quantize, i);
            _prof?.Block(i, SessionProfile.BlockStep.MlpNorm);
            Linear(hQ, d, b.Fc1Q, acc, t);
            _prof?.Block(i, SessionProfile.BlockStep.Fc1Gemm);
            Rows(RowOp.Activation, i);
            _prof?.Block(i, SessionProfile.BlockStep.Activation);
            Linear(actQ, f, b.Fc2Q, acc, t);
            _k.DequantizeAdd(acc, b.Fc2Q.DequantScales, x, t, d);
            if (!c.NormFirst) _k.LayerNorm(x, b.Ln2.Gamma, b.Ln2.Beta, c.LayerNormEps, x, t, d);
            _prof?.Block(i, SessionProfile.BlockStep.Fc2Gemm);
        }
    }

    /// <summary>
    /// Integer attention: s8 Q·Kᵀ → fixed-point softmax (u8, 2^−8; or 4-bit uniform, or 4-bit log2 / log√2 codes) → P·V
    /// (u8×s8, or shifts for log2 / log√2) → requantized s8 context.
    /// </summary>
    private void AttentionInt8(ReadOnlySpan<sbyte> qkv, Format.BlockQuant bq)
    {
        int t = _t, d = _d;
        Span<sbyte> vt = _arena.Get<sbyte>(_vt); // [heads, dh, T]
        // V arrives [T, 3D]; the NT GEMM wants it [dh, T] per head.
        for (int r = 0; r < t; r++)
            for (int j = 0; j < d; j++)
                vt[j * t + r] = qkv[r * 3 * d + 2 * d + j];
        if (_pool != null && 2L * _heads * t * t * _dh >= _minParallel)
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
        if (_log2Attention)
        {
            for (int r = 0; r < t; r++)
                _k.SoftmaxLog2Row(scores.Slice(r * t, t), bq.ScoreMultiplier, bq.ScoreShift, scratch, probs.Slice(r * t, t), _sqrt2Attention);
            _k.GemmLog2S8(probs, t, vt.Slice(o * t, dh * t), t, acc, dh, t, dh, t, _sqrt2Attention);
        }
        else
        {
            for (int r = 0; r < t; r++)
                _k.SoftmaxRow(scores.Slice(r * t, t), bq.ScoreMultiplier, bq.ScoreShift, scratch, probs.Slice(r * t, t));
            if (_u4Attention)
            {
                // Uniform 4-bit probabilities (the baseline log2 is compared with): round to 1/16, at most 15.
                Span<byte> p = probs[..(t * t)];
                for (int i = 0; i < p.Length; i++) p[i] = (byte)Math.Min(15, (p[i] + 8) >> 4);
            }
            _k.GemmU8S8(probs, t, vt.Slice(o * t, dh * t), t, default, acc, dh, t, dh, t);
        }
        _k.RequantizeRowsS8(acc, dh, bq.ContextMultiplier, bq.ContextShift, ctxQ[o..], d, t, dh);
    }

    /// <summary>
    /// acc [m, l.Out] = a [m, l.In] · Wᵀ + bias: the 4- or 7-bit-weight kernel when the model has it, split over the
    /// session's threads when large enough to pay for the dispatch.
    /// </summary>
    private void Linear(ReadOnlySpan<sbyte> a, int lda, in LinearS8 l, Span<int> acc, int m)
    {
        int n = l.Out, k = l.In;
        if (_pool != null && (long)m * n * k >= _minParallel && n >= 24)
            _pool.Run(_gemmJob, _gemmJob.Prepare(_k, a, lda, l, acc, m, _pool.Threads));
        else if (l.FourBit)
            _k.GemmS8S4(a, lda, l.W4, l.W4RowBytes, l.Bias, l.WeightSums, acc, n, m, n, k);
        else if (l.SevenBit)
            _k.GemmS8S7(a, lda, l.W, k, l.Bias, l.WeightSums, acc, n, m, n, k);
        else
            _k.GemmS8S8(a, lda, l.W, k, l.Bias, acc, n, m, n, k);
    }



    internal enum RowOp { Norm1Quantize, Norm2Quantize, QkvRequantize, Activation }

    private RowOp _rowOp;
    private int _rowBlock;

    /// <summary>A row-wise epilogue of block <paramref name="block"/>, split over threads by rows when large enough.</summary>
    private void Rows(RowOp op, int block)
    {
        (_rowOp, _rowBlock) = (op, block);
        int width = op switch { RowOp.QkvRequantize => 3 * _d, RowOp.Activation => _f, _ => _d };
        if (_pool != null && 16L * _t * width >= _minParallel)
            _pool.Run(_rowJob, _rowJob.Prepare(_t, _pool.Threads));
        else
            DoRows(0, _t);
    }

    /// <summary>Rows [r0, r1) of the current row epilogue (independent per row, so any split gives identical bits).</summary>
    internal void DoRows(int r0, int r1)
    {
        var c = _model.Config;
        var b = _model.Blocks[_rowBlock];
        var bq = b.Quant!;
        int n = r1 - r0, d = _d, f = _f;
        switch (_rowOp)
        {
            case RowOp.Norm1Quantize:
            case RowOp.Norm2Quantize:
                {
                    bool first = _rowOp == RowOp.Norm1Quantize;
                    Span<float> x = _arena.Get<float>(_x).Slice(r0 * d, n * d);  // [n, D]
                    Span<float> src = x;
                    if (c.NormFirst)
                    {
                        var ln = first ? b.Ln1 : b.Ln2;
                        src = _arena.Get<float>(_h).Slice(r0 * d, n * d);       // [n, D]
                        _k.LayerNorm(x, ln.Gamma, ln.Beta, c.LayerNormEps, src, n, d);
                    }
                    Span<sbyte> dst = _arena.Get<sbyte>(_hQ).Slice(r0 * d, n * d); // [n, D]
                    if ((first ? b.QkvSmooth : b.Fc1Smooth) is { } smooth) _k.QuantizeS8Channels(src, smooth, dst, n, d);
                    else _k.QuantizeS8(src, 1f / (first ? bq.AttnInputScale : bq.MlpInputScale), dst);
                    break;
                }
            case RowOp.QkvRequantize:
                _k.RequantizeRowsS8(_arena.Get<int>(_acc).Slice(r0 * 3 * d, n * 3 * d), 3 * d, b.QkvQ.Multipliers, b.QkvQ.Shifts,
                    _arena.Get<sbyte>(_qkvQ).Slice(r0 * 3 * d, n * 3 * d), 3 * d, n, 3 * d);
                break;
            case RowOp.Activation:
                {
                    Span<int> acc = _arena.Get<int>(_acc).Slice(r0 * f, n * f);    // [n, F]
                    Span<sbyte> act = _arena.Get<sbyte>(_actQ).Slice(r0 * f, n * f); // [n, F]
                    if (c.Activation == Schema.Activations.Gelu) _k.GeluRowsS8(acc, b.Fc1Q.Multipliers, b.Fc1Q.Shifts, bq.ActMultiplier, bq.ActShift, act, n, f);
                    else _k.ReluRowsS8(acc, b.Fc1Q.Multipliers, b.Fc1Q.Shifts, act, n, f);
                    break;
                }
        }
    }
}
