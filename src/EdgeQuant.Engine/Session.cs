using EdgeQuant.Engine.Graph;
using EdgeQuant.Kernels;
using EdgeQuant.Format;

namespace EdgeQuant.Engine;

/// <summary>
/// Runs a <see cref="Model"/> on one thread. Owns one arena sized at creation; <see cref="Run"/> allocates nothing.
/// Not thread-safe: create one session per thread (sessions of one model may run concurrently). A call entering a
/// session another thread is running gets <see cref="InvalidOperationException"/> (one interlocked exchange per call)
/// instead of corrupting that run.
/// </summary>
public sealed partial class Session : IDisposable
{
    private readonly Model _model;
    private readonly KernelSet _k;
    private readonly IActivationObserver? _obs;
    private readonly SessionProfile? _prof;
    private readonly long _minParallel; // MACs below which a step stays on the calling thread
    private readonly Arena _arena;
    private readonly int _tMax, _d, _f, _heads, _dh, _p, _kp;
    private int _t; // tokens of the sequence being run (≤ _tMax; a ViT always runs _tMax)

    // Float regions (both paths).
    private readonly Region _input;    // [C, H, W] preprocessed image
    private readonly Region _patches;  // [P, C·p·p]
    private readonly Region _x;        // [T, D] residual stream
    private readonly Region _h;        // [T, D] normalized / projection output
    private readonly Region _pooled;   // [D], [2D] for cls+dist pooling
    // Text models.
    private readonly Region _tokIds, _tokPos, _tokType; // s32 [T] each: kept (unmasked) tokens
    private readonly Region _tokIndex;                  // s32 [T]: each kept token's index in the input sequence
    private readonly Region _pooledTmp;                 // [D] pooler output
    private readonly Region _textIds;                   // s32 [T] ids of RunText
    // FP32 path.
    private readonly Region _q, _kf, _v; // [T, D] each
    private readonly Region _ctx;        // [T, D]
    private readonly Region _scores;     // [T, T]
    private readonly Region _mlp;        // [T, F]
    // INT8 path.
    private readonly Region _patchesQ;   // s8 [P, C·p·p]
    private readonly Region _hQ;         // s8 [T, D]
    private readonly Region _qkvQ;       // s8 [T, 3D]
    private readonly Region _vt;         // s8 [heads, dh, T] values transposed per head
    private readonly Region _ctxQ;       // s8 [T, D]
    private readonly Region _actQ;       // s8 [T, F]
    private readonly Region _pooledQ;    // s8 [D] or [2D]
    // Integer-only profile.
    private readonly Region _r;          // s32 [T, D] residual stream
    private readonly Region _h32;        // s32 [T, D] LayerNorm output (pre-LN), pooling scratch
    private readonly Region _pooled32;   // s32 [D] or [2D]
    private readonly Region _acc;        // s32 [max(T·3D, T·F, P·D)]
    private readonly Region[] _scoreAcc; // per thread: s32 [T, T]
    private readonly Region[] _probs;    // per thread: u8 [T, T]
    private readonly Region[] _smScratch;// per thread: s32 [T]
    private readonly Region[] _ctxAcc;   // per thread: s32 [T, dh]
    // Plan models: stem and head graphs in the same arena.
    private readonly GraphFrame? _stem, _head;
    // Threads.
    private readonly WorkerPool? _pool;
    private readonly GemmJob _gemmJob = new();
    private readonly HeadJob _headJob;
    private readonly RowJob _rowJob;
    private readonly bool _log2Attention, _sqrt2Attention, _u4Attention;

    internal Session(Model model, SessionOptions options)
    {
        _model = model;
        (_log2Attention, _sqrt2Attention, _u4Attention) = (model.AttentionProbs is Schema.AttentionProbs.Log2 or Schema.AttentionProbs.LogSqrt2,
            model.AttentionProbs == Schema.AttentionProbs.LogSqrt2, model.AttentionProbs == Schema.AttentionProbs.U4);
        _k = options.Kernels ?? KernelTable.Default;
        _obs = options.Observer;
        if (_obs != null && model.IsQuantized) throw new ArgumentException("activation observers are only supported on FP32 models");
        if (options.Threads is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(options), $"threads = {options.Threads}; must be 1..256");
        int threads = options.Threads;
        if (options.MinParallelMacs < 0) throw new ArgumentOutOfRangeException(nameof(options), "MinParallelMacs must be >= 0");
        _minParallel = options.MinParallelMacs;
        var c = model.Config;
        (_t, _d, _f, _heads) = (c.SeqLen, c.Hidden, c.MlpDim, c.Heads);
        _tMax = _t;
        _dh = _d / _heads;
        (_p, _kp) = (model.Patches, model.PatchLength);

        var plan = new ArenaPlan();
        FrameRegions? stemRegions = null, headRegions = null;
        if (model.Plan != null) headRegions = GraphFrame.PlanRegions(model.Head!, plan);
        if (model.Stem != null)
        {
            stemRegions = GraphFrame.PlanRegions(model.Stem, plan);
            _input = stemRegions.Values[model.Stem.Inputs[0]]; // [C, H, W]: the stem's input value
        }
        else _input = plan.Add<float>(model.InputLength);
        _patches = plan.Add<float>((long)_p * _kp);
        _x = plan.Add<float>((long)_t * _d);
        _h = plan.Add<float>((long)_t * _d);
        _pooled = plan.Add<float>(model.PooledLength);
        if (model.IsText)
        {
            _tokIds = plan.Add<int>(_t);
            _tokPos = plan.Add<int>(_t);
            _tokType = plan.Add<int>(_t);
            _tokIndex = plan.Add<int>(_t);
            _pooledTmp = plan.Add<float>(_d);
            _textIds = plan.Add<int>(_t);
            _normalize = options.NormalizeEmbeddings;
            if (model.HasTokenizer) _tokenizer = model.CreateTokenizer();
        }
        if (model.IsQuantized)
        {
            _patchesQ = plan.Add<sbyte>((long)_p * _kp);
            _hQ = plan.Add<sbyte>((long)_t * _d);
            _qkvQ = plan.Add<sbyte>((long)_t * 3 * _d);
            _vt = plan.Add<sbyte>((long)_d * _t);
            _ctxQ = plan.Add<sbyte>((long)_t * _d);
            _actQ = plan.Add<sbyte>((long)_t * _f);
            _pooledQ = plan.Add<sbyte>(model.PooledLength);
            if (model.IsIntegerOnly)
            {
                _r = plan.Add<int>((long)_t * _d);
                _h32 = plan.Add<int>((long)_t * _d);
                _pooled32 = plan.Add<int>(model.PooledLength);
            }
            _acc = plan.Add<int>(Math.Max(Math.Max((long)_t * 3 * _d, (long)_t * _f), Math.Max((long)_p * _d, c.NumClasses)));
            (_scoreAcc, _probs, _smScratch, _ctxAcc) = (new Region[threads], new Region[threads], new Region[threads], new Region[threads]);
            for (int w = 0; w < threads; w++)
            {
                _scoreAcc[w] = plan.Add<int>((long)_t * _t);
                _probs[w] = plan.Add<byte>((long)_t * _t);
                _smScratch[w] = plan.Add<int>(_t);
                _ctxAcc[w] = plan.Add<int>((long)_t * _dh);
            }
        }
        else
        {
            _q = plan.Add<float>((long)_t * _d);
            _kf = plan.Add<float>((long)_t * _d);
            _v = plan.Add<float>((long)_t * _d);
            _ctx = plan.Add<float>((long)_t * _d);
            _scores = plan.Add<float>((long)_t * _t);
            _mlp = plan.Add<float>((long)_t * _f);
            (_scoreAcc, _probs, _smScratch, _ctxAcc) = ([], [], [], []);
        }
        _arena = new Arena(plan.Size);
        if (options.Profile) _prof = CreateProfile(model);
        if (model.Stem != null) _stem = new GraphFrame(model.Stem, stemRegions!, _arena, _k, _obs, ActivationSite.StemOpInput);
        if (model.Plan != null) _head = new GraphFrame(model.Head!, headRegions!, _arena, _k, _obs, ActivationSite.HeadOpInput);
        _headJob = new HeadJob(this);
        _rowJob = new RowJob(this);
        if (threads > 1 && model.IsQuantized) _pool = new WorkerPool(threads);
    }

    /// <summary>The model this session runs.</summary>
    public Model Model => _model;

    /// <summary>Name of the kernel path in use.</summary>
    public string KernelPath => _k.Name;

    /// <summary>Threads this session runs on.</summary>
    public int Threads => _pool?.Threads ?? 1;

    /// <summary>Per-step times of the runs so far (null unless <see cref="SessionOptions.Profile"/>).</summary>
    public SessionProfile? Profile => _prof;

    private static SessionProfile CreateProfile(Model m)
    {
        static string[] Ops(Graph.GraphProgram p, string name)
        {
            var s = new string[p.Steps.Length];
            for (int i = 0; i < s.Length; i++) s[i] = $"{name} op {i}: {p.Steps[i].Op} ({p.Steps[i].Node})";
            return s;
        }
        string[] stem = m.Stem != null ? Ops(m.Stem, "stem") : [m.IsText ? "stem: embeddings + LayerNorm" : "stem: patch embedding, tokens, positions"];
        string[] head = m.Head != null ? Ops(m.Head, "head") : [m.IsText ? "head: pooling / pooler + classifier" : "head: final norm, pooling, classifier"];
        return new SessionProfile(stem, m.Config.Layers, head);
    }

    /// <summary>Bytes of the session's arena.</summary>
    public long ArenaBytes => _arena.Size;

    /// <summary>
    /// Runs a batch of preprocessed images, <paramref name="input"/> [B, C, H, W] (as the source ONNX model's input),
    /// writing <paramref name="logits"/> [B, classes].
    /// </summary>
    /// <exception cref="ArgumentException">Wrong input/output length, or a NaN/infinite input value.</exception>
    public void Run(ReadOnlySpan<float> input, Span<float> logits)
    {
        Enter();
        try { RunCore(input, logits); }
        finally { Exit(); }
    }

    private void RunCore(ReadOnlySpan<float> input, Span<float> logits)
    {
        int n = _model.InputLength, classes = _model.OutputLength;
        var im = _model.Image ?? throw NotImageModel();
        if (input.Length == 0 || input.Length % n != 0)
            throw new ArgumentException($"input has {input.Length} values; expected a batch of [{im.Channels}, {im.Height}, {im.Width}] images ({n} values each)");
        int batch = input.Length / n;
        if (logits.Length != batch * classes)
            throw new ArgumentException($"output has {logits.Length} values; expected {batch} x {classes}");
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> img = input.Slice(b * n, n);
            CheckFinite(img, b);
            img.CopyTo(_arena.Get<float>(_input));
            RunOne(logits.Slice(b * classes, classes));
        }
    }

    /// <summary>
    /// Runs one image given as interleaved 8-bit pixels [height, width, channels]; applies the model's preprocessing
    /// (pixel·scale − mean) / std. Writes <paramref name="logits"/> [classes].
    /// </summary>
    /// <exception cref="ArgumentException">Image size or channel count differs from the model's input.</exception>
    public void RunPixels(ReadOnlySpan<byte> pixels, int height, int width, int channels, Span<float> logits)
    {
        Enter();
        try { RunPixelsCore(pixels, height, width, channels, logits); }
        finally { Exit(); }
    }

    private void RunPixelsCore(ReadOnlySpan<byte> pixels, int height, int width, int channels, Span<float> logits)
    {
        var im = _model.Image ?? throw NotImageModel();
        if (height != im.Height || width != im.Width || channels != im.Channels)
            throw new ArgumentException($"image is {width}x{height} with {channels} channel(s); the model expects {im.Width}x{im.Height} with {im.Channels} channel(s)");
        if (pixels.Length != height * width * channels)
            throw new ArgumentException($"pixel buffer has {pixels.Length} bytes, expected {height * width * channels}");
        if (logits.Length != _model.OutputLength)
            throw new ArgumentException($"output has {logits.Length} values; expected {_model.OutputLength}");
        Span<float> x = _arena.Get<float>(_input); // [C, H, W]
        for (int ch = 0; ch < channels; ch++)
        {
            float mean = im.Mean[ch], invStd = 1f / im.Std[ch];
            for (int i = 0; i < height * width; i++)
                x[ch * height * width + i] = (pixels[i * channels + ch] * im.Scale - mean) * invStd;
        }
        RunOne(logits);
    }

    private static InvalidOperationException NotImageModel() =>
        new("this is a text model: run it with RunTokens or RunText");

    private static void CheckFinite(ReadOnlySpan<float> img, int batchIndex)
    {
        for (int i = 0; i < img.Length; i++)
            if (!float.IsFinite(img[i]))
                throw new ArgumentException($"input image {batchIndex} has a non-finite value ({img[i]}) at index {i}");
    }

    private void RunOne(Span<float> logits)
    {
        _prof?.Begin();
        if (_stem != null) RunPlan(logits);
        else
        {
            Im2Col();
            if (_model.IsIntegerOnly) ForwardIntegerVit(logits);
            else if (_model.IsQuantized) ForwardInt8(logits);
            else ForwardF32(logits);
        }
        CheckOutput(logits);
    }

    /// <summary>
    /// Refuses to return NaN or ±∞ computed from a finite input: only weights near the float limit do that, and the
    /// caller would otherwise take garbage for an answer.
    /// </summary>
    private static void CheckOutput(ReadOnlySpan<float> output)
    {
        for (int i = 0; i < output.Length; i++)
            if (!float.IsFinite(output[i])) ThrowNonFinite(i, output[i]);
    }

    private static void ThrowNonFinite(int index, float value) => throw new ModelFormatException(ModelFormatError.NonFiniteOutput,
        $"the model computed {value} at output[{index}] from a finite input: its weights overflow float arithmetic (no trained model does this; the file is damaged or crafted)");

    private int _busy; // 1 while a run is in progress: a second thread entering gets an error instead of corrupting the arena

    /// <summary>Marks the session running; another thread already in it gets <see cref="InvalidOperationException"/>.</summary>
    private void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0) ThrowBusy();
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    private static void ThrowBusy() => throw new InvalidOperationException(
        "this session is already running on another thread; a session is single-threaded: create one session per thread (sessions of one model may run concurrently)");

    /// <summary>Plan models: stem graph → token stream [T, D] → blocks → head graph → outputs.</summary>
    private void RunPlan(Span<float> output)
    {
        var stem = _stem!;
        RunGraph(stem, isHead: false);
        Span<float> x = _arena.Get<float>(_x); // [T, D]
        stem.In(stem.Program.Outputs[0]).CopyTo(x);
        _obs?.Observe(ActivationSite.Residual, -1, x);
        if (_model.IsQuantized) EncoderInt8();
        else EncoderF32();
        var head = _head!;
        x.CopyTo(head.Out(head.Program.Inputs[0]));
        RunGraph(head, isHead: true);
        head.In(head.Program.Outputs[0]).CopyTo(output);
    }

    /// <summary>Runs a plan graph, op by op with a timestamp each when profiling.</summary>
    private void RunGraph(GraphFrame g, bool isHead)
    {
        if (_prof == null)
        {
            g.Run();
            return;
        }
        for (int i = 0; i < g.Program.Steps.Length; i++)
        {
            g.RunStep(i);
            if (isHead) _prof.Head(i); else _prof.Stem(i);
        }
    }

    /// <summary>[C, H, W] → [P, C·p·p] with patch-major rows and (c, ky, kx) columns, matching a [D, C, p, p] conv weight.</summary>
    private void Im2Col()
    {
        var im = _model.Image!;
        int ps = im.PatchSize, pw = im.Width / ps, ph = im.Height / ps;
        ReadOnlySpan<float> src = _arena.Get<float>(_input); // [C, H, W]
        Span<float> dst = _arena.Get<float>(_patches);       // [P, C·p·p]
        int o = 0;
        for (int py = 0; py < ph; py++)
            for (int px = 0; px < pw; px++)
                for (int ch = 0; ch < im.Channels; ch++)
                    for (int ky = 0; ky < ps; ky++)
                    {
                        src.Slice((ch * im.Height + py * ps + ky) * im.Width + px * ps, ps).CopyTo(dst.Slice(o, ps));
                        o += ps;
                    }
    }

    /// <summary>Class token into row 0 (if any) and learned positions added to every row of the residual stream.</summary>
    private unsafe void AddTokenAndPositions(Span<float> x)
    {
        int d = _d;
        if (_model.Config.ClassToken) new ReadOnlySpan<float>(_model.ClassToken, d).CopyTo(x[..d]);
        if (_model.Config.DistillationToken) new ReadOnlySpan<float>(_model.DistToken, d).CopyTo(x.Slice(d, d));
        var pos = new ReadOnlySpan<float>(_model.Positions, _t * d); // [T, D]
        for (int i = 0; i < pos.Length; i++) x[i] += pos[i];
    }

    /// <summary>Final LayerNorm and pooling into <see cref="_pooled"/>.</summary>
    private void Pool(Span<float> x)
    {
        var c = _model.Config;
        Span<float> pooled = _arena.Get<float>(_pooled); // [D] or [2D]
        if (c.Pooling is Schema.Poolings.Cls or Schema.Poolings.ClsDist)
        {
            // Rows 0 (class) and, for cls+dist, 1 (distillation) side by side.
            int rows = pooled.Length / _d;
            if (c.FinalNorm) _k.LayerNorm(x[..(rows * _d)], _model.FinalNorm.Gamma, _model.FinalNorm.Beta, c.LayerNormEps, pooled, rows, _d);
            else x[..(rows * _d)].CopyTo(pooled);
            return;
        }
        if (c.FinalNorm) _k.LayerNorm(x, _model.FinalNorm.Gamma, _model.FinalNorm.Beta, c.LayerNormEps, x, _t, _d);
        pooled.Clear();
        for (int r = 0; r < _t; r++)
            for (int j = 0; j < _d; j++) pooled[j] += x[r * _d + j];
        float inv = 1f / _t;
        for (int j = 0; j < _d; j++) pooled[j] *= inv;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _pool?.Dispose();
        _arena.Dispose();
    }
}
