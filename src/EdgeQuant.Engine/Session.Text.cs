using System.Numerics.Tensors;
using EdgeQuant.Engine.Tokenization;
using EdgeQuant.Kernels.Reference;
using EdgeQuant.Format;

namespace EdgeQuant.Engine;

// Text (BERT-family) models: token ids → embeddings + LayerNorm → the same encoder blocks → pooler/classifier or
// masked mean pooling. Masking: a masked token is dropped before the encoder, so no query attends to it and it adds
// nothing to the pooled mean. This is exactly the additive −∞ (−10000 in float, underflowing to 0) mask of the
// reference models, in both precisions, and the fixed-point softmax only ever sees unmasked keys.
public sealed partial class Session
{
    private readonly WordPieceTokenizer? _tokenizer;
    private readonly bool _normalize;

    /// <summary>
    /// Tokenizes <paramref name="text"/> with the model's WordPiece tokenizer ([CLS] … [SEP], truncated to
    /// <see cref="Model.MaxTokens"/>) into <paramref name="ids"/>; returns the token count. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid UTF-16 (lone surrogate) or <paramref name="ids"/> too short.</exception>
    public int Tokenize(ReadOnlySpan<char> text, Span<int> ids)
    {
        Enter();
        try { return Tokenizer.Encode(text, ids, Math.Min(ids.Length, _model.MaxTokens)); }
        finally { Exit(); }
    }

    /// <summary>Same as <see cref="Tokenize(ReadOnlySpan{char}, Span{int})"/> for UTF-8 text.</summary>
    /// <exception cref="ArgumentException">Invalid UTF-8.</exception>
    public int Tokenize(ReadOnlySpan<byte> utf8, Span<int> ids)
    {
        Enter();
        try { return Tokenizer.Encode(utf8, ids, Math.Min(ids.Length, _model.MaxTokens)); }
        finally { Exit(); }
    }

    private WordPieceTokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException(
        _model.IsText ? "this model stores no tokenizer; pass token ids to RunTokens" : "image models take pixels, not text");

    /// <summary>Tokenizes and runs one text; writes logits [classes] or the embedding [hidden]. Returns the token count.</summary>
    public int RunText(ReadOnlySpan<char> text, Span<float> output)
    {
        Enter();
        try
        {
            Span<int> ids = _arena.Get<int>(_textIds); // [T]
            int n = Tokenizer.Encode(text, ids, Math.Min(ids.Length, _model.MaxTokens));
            RunTokensCore(ids[..n], default, default, 1, output);
            return n;
        }
        finally { Exit(); }
    }

    /// <summary>Same as <see cref="RunText(ReadOnlySpan{char}, Span{float})"/> for UTF-8 text.</summary>
    public int RunText(ReadOnlySpan<byte> utf8, Span<float> output)
    {
        Enter();
        try
        {
            Span<int> ids = _arena.Get<int>(_textIds); // [T]
            int n = Tokenizer.Encode(utf8, ids, Math.Min(ids.Length, _model.MaxTokens));
            RunTokensCore(ids[..n], default, default, 1, output);
            return n;
        }
        finally { Exit(); }
    }

    /// <summary>
    /// Runs one sequence of token ids. <paramref name="attentionMask"/> (1 = token, 0 = padding) and
    /// <paramref name="tokenTypeIds"/> may be empty (all ones / all zeros). Writes logits [classes] or the embedding [hidden].
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, sequence too long, ids out of range, or no unmasked token.</exception>
    public void RunTokens(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> tokenTypeIds, Span<float> output) =>
        RunTokens(inputIds, attentionMask, tokenTypeIds, 1, output);

    /// <summary>
    /// Runs a padded batch: <paramref name="inputIds"/>, <paramref name="attentionMask"/>, <paramref name="tokenTypeIds"/>
    /// are [batch, length] (mask and types may be empty); writes <paramref name="output"/> [batch, outputs].
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, sequence too long, ids out of range, or a row with no unmasked token.</exception>
    public void RunTokens(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> tokenTypeIds, int batch, Span<float> output)
    {
        Enter();
        try { RunTokensCore(inputIds, attentionMask, tokenTypeIds, batch, output); }
        finally { Exit(); }
    }

    private void RunTokensCore(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> tokenTypeIds, int batch, Span<float> output)
    {
        var tx = _model.Text ?? throw new InvalidOperationException("image models take pixels, not token ids");
        int outLen = _model.OutputLength;
        if (batch < 1 || inputIds.Length == 0 || inputIds.Length % batch != 0)
            throw new ArgumentException($"input_ids has {inputIds.Length} values; expected [batch = {batch}, length]");
        int len = inputIds.Length / batch;
        if (!attentionMask.IsEmpty && attentionMask.Length != inputIds.Length)
            throw new ArgumentException($"attention_mask has {attentionMask.Length} values, input_ids {inputIds.Length}");
        if (!tokenTypeIds.IsEmpty && tokenTypeIds.Length != inputIds.Length)
            throw new ArgumentException($"token_type_ids has {tokenTypeIds.Length} values, input_ids {inputIds.Length}");
        if (output.Length != batch * outLen)
            throw new ArgumentException($"output has {output.Length} values; expected {batch} x {outLen}");
        for (int b = 0; b < batch; b++)
        {
            var mask = attentionMask.IsEmpty ? default : attentionMask.Slice(b * len, len);
            var types = tokenTypeIds.IsEmpty ? default : tokenTypeIds.Slice(b * len, len);
            _prof?.Begin();
            Compact(inputIds.Slice(b * len, len), mask, types, tx, b);
            if (_model.IsIntegerOnly) { EmbedTextInteger(); _prof?.Stem(0); EncoderInteger(); ResidualToFloat(); }
            else if (_model.IsQuantized) { EmbedText(); _prof?.Stem(0); EncoderInt8(); }
            else { EmbedText(); _prof?.Stem(0); EncoderF32(); }
            if (_head != null) TextHeadGraph(output.Slice(b * outLen, outLen));
            else
            {
                TextHead(tx, output.Slice(b * outLen, outLen));
                _prof?.Head(0);
            }
            CheckOutput(output.Slice(b * outLen, outLen));
        }
    }

    /// <summary>Checks one sequence and keeps its unmasked tokens (ids, position ids, type ids) in the arena; sets <see cref="_t"/>.</summary>
    private void Compact(ReadOnlySpan<int> ids, ReadOnlySpan<int> mask, ReadOnlySpan<int> types, Format.TextConfig tx, int row)
    {
        Span<int> kid = _arena.Get<int>(_tokIds), kpos = _arena.Get<int>(_tokPos), ktype = _arena.Get<int>(_tokType), kidx = _arena.Get<int>(_tokIndex); // [T] each
        if (_head != null && ids.Length > _tMax)
            throw new ArgumentException($"sequence {row} has {ids.Length} tokens (padding included); this model's head graph takes at most {_tMax}");
        int n = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            int mk = mask.IsEmpty ? 1 : mask[i];
            if (mk is not (0 or 1)) throw new ArgumentException($"sequence {row}: attention_mask[{i}] = {mk}; must be 0 or 1");
            if (mk == 0) continue;
            if ((uint)ids[i] >= (uint)tx.VocabSize) throw new ArgumentException($"sequence {row}: input_ids[{i}] = {ids[i]} is outside the vocabulary [0, {tx.VocabSize})");
            int type = types.IsEmpty ? 0 : types[i];
            if ((uint)type >= (uint)Math.Max(tx.TypeVocabSize, 1)) throw new ArgumentException($"sequence {row}: token_type_ids[{i}] = {type} is outside [0, {Math.Max(tx.TypeVocabSize, 1)})");
            if (n == _tMax) throw new ArgumentException($"sequence {row} has more than {_tMax} unmasked tokens, the model's maximum");
            kid[n] = ids[i];
            kidx[n] = i;
            kpos[n] = tx.PositionOffset + (tx.PositionsFromMask ? n : i);
            ktype[n] = type;
            n++;
        }
        if (n == 0) throw new ArgumentException($"sequence {row} has no unmasked token");
        if (tx.Head == Schema.TextHeads.Classification && !mask.IsEmpty && mask[0] == 0)
            throw new ArgumentException($"sequence {row}: the classifier reads the first token, but attention_mask[0] = 0 (use right padding)");
        _t = n;
    }

    /// <summary>x [T, D] = LayerNorm(word[id] + position[pos] + type[tt]).</summary>
    private void EmbedText()
    {
        var w = _model.TextW!;
        int d = _d;
        Span<float> x = _arena.Get<float>(_x)[..(_t * d)]; // [T, D]
        ReadOnlySpan<int> ids = _arena.Get<int>(_tokIds), pos = _arena.Get<int>(_tokPos), types = _arena.Get<int>(_tokType); // [T] each
        x.Clear();
        for (int r = 0; r < _t; r++)
        {
            Span<float> row = x.Slice(r * d, d);
            w.Word.AddRow(ids[r], row);
            w.Position.AddRow(pos[r], row);
            if (w.Type.Rows > 0) w.Type.AddRow(types[r], row);
        }
        _k.LayerNorm(x, w.EmbedNorm.Gamma, w.EmbedNorm.Beta, _model.Config.LayerNormEps, x, _t, d);
        _obs?.Observe(ActivationSite.Residual, -1, x);
    }

    /// <summary>
    /// Classification: first token → pooler (dense + tanh/relu) → classifier. Embedding: mean over tokens, optionally
    /// L2-normalized. One row of float math in index order (no SIMD reductions), so int8 models give the same bits on every ISA.
    /// </summary>
    private void TextHead(Format.TextConfig tx, Span<float> output)
    {
        var w = _model.TextW!;
        int d = _d;
        ReadOnlySpan<float> x = _arena.Get<float>(_x)[..(_t * d)]; // [T, D]
        if (tx.Head == Schema.TextHeads.Embedding)
        {
            output.Clear();
            for (int r = 0; r < _t; r++) TensorPrimitives.Add(output, x.Slice(r * d, d), output);
            TensorPrimitives.Multiply(output, 1f / _t, output);
            if (_normalize)
            {
                float norm = MathF.Sqrt(FloatReference.DotOrdered(output, output));
                if (norm > 0) TensorPrimitives.Multiply(output, 1f / norm, output);
            }
            return;
        }
        ReadOnlySpan<float> first = x[..d]; // [D]
        if (tx.PoolerActivation != Schema.PoolerActivations.None)
        {
            Span<float> pooled = _arena.Get<float>(_pooledTmp); // [D]
            DenseOrdered(first, w.Pooler, pooled);
            for (int j = 0; j < d; j++) pooled[j] = tx.PoolerActivation == Schema.PoolerActivations.Tanh ? FloatReference.Tanh(pooled[j]) : MathF.Max(pooled[j], 0f);
            first = pooled;
        }
        DenseOrdered(first, w.Head, output);
    }

    /// <summary>
    /// Plan head: the kept tokens' hidden states back at their input positions in [L, D] (other rows zero), the mask
    /// [L] (1 at kept positions), then the head graph.
    /// </summary>
    private void TextHeadGraph(Span<float> output)
    {
        var head = _head!;
        int d = _d;
        ReadOnlySpan<float> x = _arena.Get<float>(_x)[..(_t * d)]; // [T, D]
        ReadOnlySpan<int> kidx = _arena.Get<int>(_tokIndex);        // [T]
        Span<float> hs = head.Out(head.Program.Inputs[0]);          // [L, D]
        Span<float> mask = head.Out(head.Program.Inputs[1]);        // [L]
        hs.Clear();
        mask.Clear();
        for (int r = 0; r < _t; r++)
        {
            x.Slice(r * d, d).CopyTo(hs.Slice(kidx[r] * d, d));
            mask[kidx[r]] = 1f;
        }
        RunGraph(head, isHead: true);
        head.In(head.Program.Outputs[0]).CopyTo(output);
    }

    private static void DenseOrdered(ReadOnlySpan<float> x, in LinearF32 l, Span<float> y)
    {
        ReadOnlySpan<float> w = l.W, b = l.B; // [out, in], [out]
        for (int o = 0; o < l.Out; o++) y[o] = b[o] + FloatReference.DotOrdered(x, w.Slice(o * l.In, l.In));
    }
}
