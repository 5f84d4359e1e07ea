using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeQuant.Format;
using EdgeQuant.Kernels;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Decoder;

/// <summary>Options of a <see cref="DecoderSession"/>.</summary>
public sealed class DecoderSessionOptions
{
    /// <summary>Kernel path; null = <see cref="KernelTable.Default"/>.</summary>
    public KernelSet? Kernels { get; set; }
    /// <summary>Threads of this session (its own pool, parked between calls). Default 1.</summary>
    public int Threads { get; set; } = 1;
    /// <summary>Tokens the key/value cache holds (prompt + generated); 0 = the model's trained context, capped at <see cref="DefaultMaxContext"/>.</summary>
    public int ContextLength { get; set; }
    /// <summary>Prompt tokens run through the blocks together (the GEMMs' M); bounds the arena. Default 32.</summary>
    public int PrefillChunk { get; set; } = 32;
    /// <summary>
    /// Store keys and values as int8 with one scale per token and head (a quarter of the float cache's memory; the
    /// perplexity it costs is in docs/PERFORMANCE.md). Default false (float cache).
    /// </summary>
    public bool KvCacheInt8 { get; set; }
    /// <summary>Record the wall time of every step (<see cref="DecoderSession.Profile"/>); two timestamps per step.</summary>
    public bool Profile { get; set; }
    /// <summary>A linear with fewer MACs than this runs on the calling thread (a dispatch costs a few µs). Default 2^18.</summary>
    public long MinParallelMacs { get; set; } = SessionOptions.DefaultMinParallelMacs;

    /// <summary>Cap of the default context length (the cache of a long-context model would otherwise take gigabytes).</summary>
    public const int DefaultMaxContext = 2048;
}

/// <summary>
/// Runs a <see cref="DecoderModel"/> on one thread: a key/value cache and every buffer in one arena sized at creation;
/// <see cref="Feed(ReadOnlySpan{int})"/> allocates nothing. Feed the prompt (any length, run in chunks of
/// <see cref="DecoderSessionOptions.PrefillChunk"/> tokens as GEMMs), read <see cref="Logits"/>, feed the chosen token
/// (M = 1), and so on. Not thread-safe: one session per thread; sessions of one model may run concurrently.
/// </summary>
public sealed unsafe class DecoderSession : IDisposable
{
    private readonly DecoderModel _model;
    private readonly DecoderConfig _c;
    private readonly KernelSet _k;
    private readonly Arena _arena;
    private readonly WorkerPool? _pool;
    private readonly LinearJob _linearJob = new();
    private readonly SessionProfile? _prof;
    private readonly long _minParallel;
    private readonly int _chunk, _ctx, _d, _qd, _kvd, _dh, _group;
    private readonly bool _quantized, _rope, _layerNorm;
    private readonly float _attnScale;
    private int _pos;       // tokens in the cache
    private int _logitRows; // rows of _logits holding the last Feed's output

    private readonly Region _x, _h;           // [chunk, D] residual stream; normalized rows
    private readonly Region _q, _kk, _v;      // [chunk, heads·dh], [chunk, kv·dh] ×2
    private readonly Region _attn;            // [chunk, heads·dh] attention context
    private readonly Region _gate, _up;       // [chunk, F] each
    private readonly Region _xq;              // s8 [chunk, max(D, heads·dh, F)] rows quantized per token
    private readonly Region _xs;              // [chunk] their scales
    private readonly Region _acc;             // s32 [chunk · max(out)] int32 sums
    private readonly Region _scores;          // [ctx] one query's attention weights
    private readonly Region _logits;          // [chunk, vocab]
    private readonly Region _cos, _sin;       // [ctx, dh/2] rotary tables
    private readonly Region _kCache, _vCache; // [layers, kv heads, ctx, dh] each (f32, or s8 with KvCacheInt8)
    private readonly Region _kScale, _vScale; // [layers, kv heads, ctx] int8 cache: one scale per token and head
    private readonly bool _kv8;

    internal DecoderSession(DecoderModel model, DecoderSessionOptions o)
    {
        _model = model;
        _c = model.Config;
        _k = o.Kernels ?? KernelTable.Default;
        if (o.Threads is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(o), $"threads = {o.Threads}; must be 1..256");
        if (o.PrefillChunk is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(o), $"prefill chunk = {o.PrefillChunk}; must be 1..4096");
        if (o.MinParallelMacs < 0) throw new ArgumentOutOfRangeException(nameof(o), "MinParallelMacs must be >= 0");
        if (o.ContextLength < 0) throw new ArgumentOutOfRangeException(nameof(o), "context length must be >= 0 (0 = the model's)");
        _ctx = o.ContextLength == 0 ? Math.Min(_c.MaxPositions, DecoderSessionOptions.DefaultMaxContext) : o.ContextLength;
        if (_c.Positions == Schema.PositionKinds.Learned && _ctx > _c.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(o), $"context length {_ctx} exceeds the model's {_c.MaxPositions} learned positions");
        _minParallel = o.MinParallelMacs;
        _chunk = Math.Min(o.PrefillChunk, _ctx);
        (_d, _dh, _qd, _kvd) = (_c.Hidden, _c.HeadDim, _c.Heads * _c.HeadDim, _c.KvHeads * _c.HeadDim);
        _quantized = model.IsQuantized;
        _rope = _c.Positions != Schema.PositionKinds.Learned;
        _layerNorm = _c.Norm == Schema.NormKinds.LayerNorm;
        _attnScale = 1f / MathF.Sqrt(_dh);
        _group = _c.Quant?.GroupSize ?? 0;

        var plan = new ArenaPlan();
        long rows = _chunk;
        _x = plan.Add<float>(rows * _d);
        _h = plan.Add<float>(rows * _d);
        _q = plan.Add<float>(rows * _qd);
        _kk = plan.Add<float>(rows * _kvd);
        _v = plan.Add<float>(rows * _kvd);
        _attn = plan.Add<float>(rows * _qd);
        _gate = plan.Add<float>(rows * _c.MlpDim);
        _up = plan.Add<float>(rows * _c.MlpDim);
        int widest = Math.Max(Math.Max(_d, _qd), _c.MlpDim);
        _xq = plan.Add<sbyte>(rows * widest);
        _xs = plan.Add<float>(rows);
        _acc = plan.Add<int>(_quantized ? rows * Math.Max(widest, _c.VocabSize) : 1);
        _scores = plan.Add<float>(_ctx);
        _logits = plan.Add<float>(rows * _c.VocabSize);
        if (_rope)
        {
            _cos = plan.Add<float>((long)_ctx * (_dh / 2));
            _sin = plan.Add<float>((long)_ctx * (_dh / 2));
        }
        long cache = (long)_c.Layers * _c.KvHeads * _ctx * _dh;
        _kv8 = o.KvCacheInt8;
        if (_kv8)
        {
            _kCache = plan.Add<sbyte>(cache);
            _vCache = plan.Add<sbyte>(cache);
            _kScale = plan.Add<float>(cache / _dh);
            _vScale = plan.Add<float>(cache / _dh);
        }
        else
        {
            _kCache = plan.Add<float>(cache);
            _vCache = plan.Add<float>(cache);
        }
        _arena = new Arena(plan.Size);
        if (_rope) FillRotaryTables();
        if (o.Threads > 1) _pool = new WorkerPool(o.Threads);
        if (o.Profile) _prof = new SessionProfile(["embedding"], _c.Layers, ["final norm + LM head"], SessionProfile.DecoderStepNames);
    }

    /// <summary>Time per step, accumulated over <see cref="Feed(ReadOnlySpan{int})"/> calls (null unless <see cref="DecoderSessionOptions.Profile"/>).</summary>
    public SessionProfile? Profile => _prof;

    /// <summary>The model this session runs.</summary>
    public DecoderModel Model => _model;
    /// <summary>Tokens in the key/value cache (the position of the next token fed).</summary>
    public int Position => _pos;
    /// <summary>Tokens the cache holds at most.</summary>
    public int ContextLength => _ctx;
    /// <summary>Bytes of the session's arena (key/value cache included).</summary>
    public long ArenaBytes => _arena.Size;
    /// <summary>Logits [vocab] after the last token fed (valid until the next <see cref="Feed(ReadOnlySpan{int})"/> or <see cref="Reset"/>).</summary>
    public ReadOnlySpan<float> Logits => _logitRows == 0 ? default : _arena.Get<float>(_logits).Slice((_logitRows - 1) * _c.VocabSize, _c.VocabSize);

    /// <summary>Empties the key/value cache (a new conversation).</summary>
    public void Reset()
    {
        _pos = 0;
        _logitRows = 0;
    }

    /// <summary>Appends one token (a generation step, M = 1) and computes the logits after it.</summary>
    public void Feed(int id) => Feed(new ReadOnlySpan<int>(in id), default);

    /// <summary>Appends <paramref name="ids"/> to the context and computes the logits after the last of them.</summary>
    /// <exception cref="ArgumentException">An id is outside the vocabulary, or no ids.</exception>
    /// <exception cref="InvalidOperationException">The context would overflow <see cref="ContextLength"/>.</exception>
    public void Feed(ReadOnlySpan<int> ids) => Feed(ids, default);

    /// <summary>
    /// As <see cref="Feed(ReadOnlySpan{int})"/>, and also writes the logits after every fed token into
    /// <paramref name="allLogits"/> [ids.Length, vocab] (perplexity; empty: only <see cref="Logits"/>).
    /// </summary>
    public void Feed(ReadOnlySpan<int> ids, Span<float> allLogits)
    {
        if (ids.IsEmpty) throw new ArgumentException("no token ids to feed");
        int vocab = _c.VocabSize;
        foreach (int id in ids)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"token id {id} is outside the vocabulary [0, {vocab})");
        if (ids.Length > _ctx - _pos)
            throw new InvalidOperationException($"context full: {_pos} tokens + {ids.Length} new exceed the context length {_ctx} (Reset, or create the session with a longer ContextLength)");
        if (!allLogits.IsEmpty && allLogits.Length < (long)ids.Length * vocab)
            throw new ArgumentException($"logits buffer holds {allLogits.Length} values; {ids.Length} tokens need {(long)ids.Length * vocab}");
        for (int s = 0; s < ids.Length; s += _chunk)
        {
            int m = Math.Min(_chunk, ids.Length - s);
            bool last = s + m == ids.Length;
            Chunk(ids.Slice(s, m), allLogits.IsEmpty ? (last ? 1 : 0) : m);
            if (!allLogits.IsEmpty) _arena.Get<float>(_logits)[..(m * vocab)].CopyTo(allLogits.Slice(s * vocab, m * vocab));
        }
    }

    /// <summary>
    /// Σ −log p(token | earlier tokens of its sequence) over every sequence (each from an empty cache, cut at
    /// <see cref="ContextLength"/>; sequences under 2 tokens predict nothing) and the number of predicted tokens:
    /// perplexity = exp(Nll / Tokens). Resets the session; allocates one logits buffer per call (an evaluation, not a hot path).
    /// </summary>
    public (double Nll, long Tokens) NegativeLogLikelihood(IReadOnlyList<int[]> sequences)
    {
        int v = _c.VocabSize;
        var logits = new float[(long)_ctx * v]; // [ctx, vocab]
        double nll = 0;
        long count = 0;
        foreach (int[] full in sequences)
        {
            int[] ids = full.Length > _ctx ? full[.._ctx] : full;
            if (ids.Length < 2) continue;
            Reset();
            Feed(ids, logits);
            for (int t = 0; t + 1 < ids.Length; t++)
            {
                var row = logits.AsSpan(t * v, v);
                float max = float.NegativeInfinity;
                foreach (float x in row) max = Math.Max(max, x);
                double sum = 0;
                foreach (float x in row) sum += Math.Exp(x - max);
                nll += Math.Log(sum) + max - row[ids[t + 1]];
                count++;
            }
        }
        return (nll, count);
    }

    /// <summary>Runs m tokens at positions _pos.. through the blocks; logits for the last <paramref name="logitRows"/> rows.</summary>
    private void Chunk(ReadOnlySpan<int> ids, int logitRows)
    {
        int m = ids.Length, d = _d, p0 = _pos;
        _prof?.Begin();
        var x = _arena.Get<float>(_x)[..(m * d)]; // [m, D]
        var h = _arena.Get<float>(_h)[..(m * d)]; // [m, D]
        for (int r = 0; r < m; r++)
        {
            if (_quantized) _model.EmbeddingQ.DequantizeRow(ids[r], x.Slice(r * d, d));
            else new ReadOnlySpan<float>(_model.Embedding + (long)ids[r] * d, d).CopyTo(x.Slice(r * d, d));
            if (!_rope)
            {
                var pe = new ReadOnlySpan<float>(_model.Positions + (long)(p0 + r) * d, d);
                var xr = x.Slice(r * d, d);
                for (int j = 0; j < d; j++) xr[j] += pe[j];
            }
        }
        _prof?.Stem(0);
        var q = _arena.Get<float>(_q)[..(m * _qd)];   // [m, heads·dh]
        var kk = _arena.Get<float>(_kk)[..(m * _kvd)]; // [m, kv·dh]
        var v = _arena.Get<float>(_v)[..(m * _kvd)];   // [m, kv·dh]
        var attn = _arena.Get<float>(_attn)[..(m * _qd)];
        int f = _c.MlpDim;
        var gate = _arena.Get<float>(_gate)[..(m * f)];
        var up = _arena.Get<float>(_up)[..(m * f)];
        for (int l = 0; l < _c.Layers; l++)
        {
            var b = _model.Blocks[l];
            Norm(x, b.AttnNorm, h, m);
            Quantize(h, m, d);
            _prof?.Block(l, SessionProfile.BlockStep.AttnNorm);
            Linear(b.Q, h, q, m);
            Linear(b.K, h, kk, m);
            Linear(b.V, h, v, m);
            _prof?.Block(l, SessionProfile.BlockStep.QkvGemm);
            if (_rope) { Rotate(q, m, _c.Heads, p0); Rotate(kk, m, _c.KvHeads, p0); }
            StoreKv(l, kk, v, m, p0);
            _prof?.Block(l, SessionProfile.BlockStep.QkvRequantize);
            Attention(l, q, attn, m, p0);
            Quantize(attn, m, _qd);
            _prof?.Block(l, SessionProfile.BlockStep.Attention);
            Linear(b.O, attn, h, m);
            Add(x, h);
            _prof?.Block(l, SessionProfile.BlockStep.OutGemm);
            Norm(x, b.MlpNorm, h, m);
            Quantize(h, m, d);
            _prof?.Block(l, SessionProfile.BlockStep.MlpNorm);
            if (_c.GatedMlp) Linear(b.Gate, h, gate, m);
            Linear(b.Up, h, up, m);
            _prof?.Block(l, SessionProfile.BlockStep.Fc1Gemm);
            Activate(gate, up, m * f);
            Quantize(up, m, f);
            _prof?.Block(l, SessionProfile.BlockStep.Activation);
            Linear(b.Down, up, h, m);
            Add(x, h);
            _prof?.Block(l, SessionProfile.BlockStep.Fc2Gemm);
        }
        _pos += m;
        _logitRows = logitRows;
        if (logitRows == 0) { _prof?.Head(0); return; }
        int first = m - logitRows;
        var hl = h[..(logitRows * d)];
        Norm(x[(first * d)..], _model.FinalNorm, hl, logitRows);
        Quantize(hl, logitRows, d);
        Linear(_model.LmHead, hl, _arena.Get<float>(_logits)[..(logitRows * _c.VocabSize)], logitRows);
        _prof?.Head(0);
    }

    private void Norm(ReadOnlySpan<float> x, in DecoderNorm n, Span<float> y, int m)
    {
        int d = _d;
        if (_layerNorm) { _k.LayerNorm(x[..(m * d)], n.Gamma, n.Beta, _c.NormEps, y, m, d); return; }
        var g = n.Gamma;
        for (int r = 0; r < m; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float inv = 1f / MathF.Sqrt(FloatReference.RowSum(xr, 0f, squares: true) / d + _c.NormEps);
            for (int j = 0; j < d; j++) yr[j] = xr[j] * inv * g[j];
        }
    }

    private void Quantize(ReadOnlySpan<float> x, int m, int cols)
    {
        if (_quantized) DecoderLinear.QuantizeRows(_k, x, _arena.Get<sbyte>(_xq), _arena.Get<float>(_xs), m, cols);
    }

    /// <summary>y [m, out] = layer(x): float input for float layers, the rows <see cref="Quantize"/> just wrote for quantized ones.</summary>
    private void Linear(in DecoderLinear layer, ReadOnlySpan<float> x, Span<float> y, int m)
    {
        var xq = _arena.Get<sbyte>(_xq);
        var xs = _arena.Get<float>(_xs);
        var acc = _arena.Get<int>(_acc);
        if (_pool == null || (long)m * layer.Out * layer.In < _minParallel)
        {
            layer.Columns(_k, x, xq, xs, acc, y, m, 0, layer.Out);
            return;
        }
        int items = _linearJob.Prepare(_k, layer, x, xq, xs, acc, y, m, _pool.Threads);
        _pool.Run(_linearJob, items);
    }

    private static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }

    /// <summary>up = act(gate) · up (gated MLP) or act(up).</summary>
    private void Activate(ReadOnlySpan<float> gate, Span<float> up, int n)
    {
        bool gated = _c.GatedMlp;
        switch (_c.Activation)
        {
            case Schema.Activations.Silu:
                for (int i = 0; i < n; i++) { float a = gated ? gate[i] : up[i]; float s = a / (1f + FloatReference.ExpF(-a)); up[i] = gated ? s * up[i] : s; }
                break;
            case Schema.Activations.GeluTanh:
                for (int i = 0; i < n; i++) { float a = gated ? gate[i] : up[i]; float s = 0.5f * a * (1f + FloatReference.Tanh(0.7978845608f * (a + 0.044715f * a * a * a))); up[i] = gated ? s * up[i] : s; }
                break;
            case Schema.Activations.Gelu:
                for (int i = 0; i < n; i++) { float a = gated ? gate[i] : up[i]; float s = FloatReference.Gelu(a); up[i] = gated ? s * up[i] : s; }
                break;
            default:
                for (int i = 0; i < n; i++) { float a = gated ? gate[i] : up[i]; float s = MathF.Max(a, 0f); up[i] = gated ? s * up[i] : s; }
                break;
        }
    }

    /// <summary>Rotary embedding of rows [m, heads·dh] at positions p0.. (rotate-half or interleaved pairs).</summary>
    private void Rotate(Span<float> t, int m, int heads, int p0)
    {
        int half = _dh / 2;
        var cos = _arena.Get<float>(_cos);
        var sin = _arena.Get<float>(_sin);
        bool interleaved = _c.Positions == Schema.PositionKinds.RopeInterleaved;
        for (int r = 0; r < m; r++)
        {
            var cr = cos.Slice((p0 + r) * half, half);
            var sr = sin.Slice((p0 + r) * half, half);
            for (int hh = 0; hh < heads; hh++)
            {
                var v = t.Slice(r * heads * _dh + hh * _dh, _dh);
                for (int i = 0; i < half; i++)
                {
                    int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
                    float x0 = v[a], x1 = v[b];
                    v[a] = x0 * cr[i] - x1 * sr[i];
                    v[b] = x1 * cr[i] + x0 * sr[i];
                }
            }
        }
    }

    /// <summary>cos/sin of position · inverse frequency for every cached position, from IEEE basic operations (same bits on every ISA).</summary>
    private void FillRotaryTables()
    {
        int half = _dh / 2;
        var cos = _arena.Get<float>(_cos);
        var sin = _arena.Get<float>(_sin);
        for (int p = 0; p < _ctx; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * _model.RopeInvFreq[i]; // float product, as transformers forms it
                (double s, double c) = FloatReference.SinCos(angle);
                cos[p * half + i] = (float)c;
                sin[p * half + i] = (float)s;
            }
    }

    private void StoreKv(int layer, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int m, int p0)
    {
        for (int r = 0; r < m; r++)
            for (int hh = 0; hh < _c.KvHeads; hh++)
            {
                long row = ((long)layer * _c.KvHeads + hh) * _ctx + p0 + r, at = row * _dh;
                var kr = k.Slice((r * _c.KvHeads + hh) * _dh, _dh);
                var vr = v.Slice((r * _c.KvHeads + hh) * _dh, _dh);
                if (!_kv8)
                {
                    kr.CopyTo(_arena.Get<float>(_kCache).Slice((int)at, _dh));
                    vr.CopyTo(_arena.Get<float>(_vCache).Slice((int)at, _dh));
                    continue;
                }
                DecoderLinear.QuantizeRows(_k, kr, _arena.Get<sbyte>(_kCache).Slice((int)at, _dh), _arena.Get<float>(_kScale).Slice((int)row, 1), 1, _dh);
                DecoderLinear.QuantizeRows(_k, vr, _arena.Get<sbyte>(_vCache).Slice((int)at, _dh), _arena.Get<float>(_vScale).Slice((int)row, 1), 1, _dh);
            }
    }

    /// <summary>Causal attention of m query rows at positions p0.. over the cache (grouped heads share a key/value head).</summary>
    private void Attention(int layer, ReadOnlySpan<float> q, Span<float> o, int m, int p0)
    {
        var scores = _arena.Get<float>(_scores);
        int group = _c.Heads / _c.KvHeads, dh = _dh;
        for (int r = 0; r < m; r++)
        {
            int n = p0 + r + 1; // keys 0..p0+r
            for (int hq = 0; hq < _c.Heads; hq++)
            {
                long rows = ((long)layer * _c.KvHeads + hq / group) * _ctx, head = rows * dh;
                var qr = q.Slice(r * _qd + hq * dh, dh);
                var s = scores[..n];
                float max = float.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    float dot = _kv8
                        ? DotS8(qr, _arena.Get<sbyte>(_kCache).Slice((int)(head + (long)j * dh), dh)) * _arena.Get<float>(_kScale)[(int)(rows + j)]
                        : FloatReference.DotLanes8(qr, _arena.Get<float>(_kCache).Slice((int)(head + (long)j * dh), dh));
                    s[j] = dot * _attnScale;
                    max = MathF.Max(max, s[j]);
                }
                float sum = 0;
                for (int j = 0; j < n; j++) sum += s[j] = FloatReference.ExpF(s[j] - max);
                float inv = 1f / sum;
                for (int j = 0; j < n; j++) s[j] *= inv;
                var or = o.Slice(r * _qd + hq * dh, dh);
                or.Clear();
                for (int j = 0; j < n; j++)
                {
                    if (_kv8)
                    {
                        float pj = s[j] * _arena.Get<float>(_vScale)[(int)(rows + j)];
                        var v8 = _arena.Get<sbyte>(_vCache).Slice((int)(head + (long)j * dh), dh);
                        for (int i = 0; i < dh; i++) or[i] += pj * v8[i];
                        continue;
                    }
                    AddScaled(or, s[j], _arena.Get<float>(_vCache).Slice((int)(head + (long)j * dh), dh));
                }
            }
        }
    }

    /// <summary>
    /// o += p · v, elementwise: a multiply and an add per element (no fused multiply-add), four lanes at a time where
    /// the hardware has them; each element sees the same two roundings, so every ISA gives the same bits.
    /// </summary>
    private static void AddScaled(Span<float> o, float p, ReadOnlySpan<float> v)
    {
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var pv = Vector128.Create(p);
            ref float ro = ref MemoryMarshal.GetReference(o);
            ref float rv = ref MemoryMarshal.GetReference(v);
            for (; i + 4 <= o.Length; i += 4)
                Vector128.StoreUnsafe(Vector128.LoadUnsafe(ref ro, (nuint)i) + pv * Vector128.LoadUnsafe(ref rv, (nuint)i), ref ro, (nuint)i);
        }
        for (; i < o.Length; i++) o[i] += p * v[i];
    }

    /// <summary>Σ q[i]·k[i] for float q and int8 k, four accumulators in a fixed order (the same bits on every ISA).</summary>
    private static float DotS8(ReadOnlySpan<float> q, ReadOnlySpan<sbyte> k)
    {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= q.Length; i += 4)
        {
            s0 += q[i] * k[i];
            s1 += q[i + 1] * k[i + 1];
            s2 += q[i + 2] * k[i + 2];
            s3 += q[i + 3] * k[i + 3];
        }
        for (; i < q.Length; i++) s0 += q[i] * k[i];
        return (s0 + s1) + (s2 + s3);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _pool?.Dispose();
        _arena.Dispose();
    }
}

/// <summary>Columns of one decoder linear split over the pool (each worker its own column range and int32 sums).</summary>
internal sealed unsafe class LinearJob : ParallelJob
{
    private const int Align = 16;
    private KernelSet _k = null!;
    private DecoderLinear _layer;
    private float* _x, _xs, _y;
    private sbyte* _xq;
    private int* _acc;
    private int _m, _chunk, _xLen, _xqLen;

    public int Prepare(KernelSet k, in DecoderLinear layer, ReadOnlySpan<float> x, ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xs, Span<int> acc, Span<float> y, int m, int threads)
    {
        (_k, _layer, _m) = (k, layer, m);
        _x = GemmJob.Ptr(x);
        _xq = GemmJob.Ptr(xq);
        _xs = GemmJob.Ptr(xs);
        _acc = GemmJob.Ptr<int>(acc);
        _y = GemmJob.Ptr<float>(y);
        (_xLen, _xqLen) = (x.Length, xq.Length);
        int n = layer.Out;
        _chunk = Math.Max(Align, (n + threads - 1) / threads / Align * Align);
        return (n + _chunk - 1) / _chunk;
    }

    public override void Execute(int index, int worker)
    {
        int n0 = index * _chunk, n1 = Math.Min(_layer.Out, n0 + _chunk);
        // Each column range gets its own slice of the int32 sums: [m, n1 − n0] at m·n0.
        _layer.Columns(_k, new ReadOnlySpan<float>(_x, _xLen), new ReadOnlySpan<sbyte>(_xq, _xqLen), new ReadOnlySpan<float>(_xs, _m),
            new Span<int>(_acc + (long)_m * n0, _m * (n1 - n0)), new Span<float>(_y, (_m - 1) * _layer.Out + _layer.Out), _m, n0, n1);
    }
}
