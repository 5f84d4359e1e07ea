using EdgeQuant.Engine;
using EdgeQuant.Format;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Quantization;

/// <summary>Options of static post-training quantization.</summary>
public sealed class PtqOptions
{
    /// <summary>Activation calibrator.</summary>
    public CalibratorKind Calibrator { get; set; } = CalibratorKind.Percentile;
    /// <summary>Percentile for <see cref="CalibratorKind.Percentile"/> (e.g. 99.99).</summary>
    public double Percentile { get; set; } = 99.99;
    /// <summary>
    /// Weight bits of the block linears: 8 (default), 7 (range [−63, 63]: x64 can then use the exact u8×s8 vpmaddubsw
    /// GEMM, about 2x the int16 path) or 4 (packed, [−7, 7]; the ViT patch embedding and head stay 8-bit).
    /// </summary>
    public int WeightBits { get; set; } = 8;
    /// <summary>Per-channel weight scale choice of the block linears.</summary>
    public WeightClip WeightClip { get; set; } = WeightClip.MinMax;
    /// <summary>Learned rounding of the block linears (null = round to nearest).</summary>
    public AdaRound.Options? AdaRound { get; set; }
    /// <summary>
    /// Mixed precision (with <see cref="WeightBits"/> 4): average bits per block-linear weight (4..8); the most sensitive
    /// layers are kept at 8 bits (<see cref="MixedPrecision"/>). Null = every block linear at 4 bits.
    /// </summary>
    public double? WeightBudgetBits { get; set; }
    /// <summary>
    /// AdaRound against the inputs of the partly rounded model (block by block: earlier blocks already carry their
    /// rounded weights) and the FP32 layer's outputs, instead of FP32 inputs (see <see cref="SequentialInputs"/>).
    /// </summary>
    public bool SequentialReconstruction { get; set; }
    /// <summary>Wall-clock budget in seconds for reconstruction (AdaRound) over all layers; null = no limit.</summary>
    public double? ReconstructionBudget { get; set; }
    /// <summary>
    /// SmoothQuant migration strength α in [0, 1] for the inputs of the QKV and first MLP linears (null = off):
    /// s_j = max|X_j|^α / max|W_:,j|^(1−α); the weights' columns are multiplied by s_j and the activations divided by
    /// it inside the per-channel quantization step (so post-LN residual streams are left untouched).
    /// </summary>
    public double? SmoothAlpha { get; set; }
    /// <summary>
    /// Outlier Suppression's gamma migration (Wei et al., NeurIPS 2022) for the inputs of the QKV and first MLP linears:
    /// the preceding LayerNorm's |γ_j| moves into the weight columns (W·diag|γ|) and the activations are quantized
    /// divided by it (the "non-scaling LayerNorm" output x̂ + β/γ), through the same per-channel step as SmoothQuant.
    /// </summary>
    public bool GammaMigration { get; set; }
    /// <summary>
    /// Integer-only profile: int32 residual stream at one scale, integer LayerNorm (I-BERT style), sublayer outputs
    /// requantized into the stream; no float between the embedding and the head (the text head stays float).
    /// </summary>
    public bool IntegerOnly { get; set; }
    /// <summary>
    /// Attention probabilities: "u8" (uniform 8-bit, default), "u4" (uniform 4-bit), "log2" (4-bit log2 codes,
    /// FQ-ViT's Log-Int-Softmax: P·V by shifts) or "logsqrt2" (4-bit log√2 codes, RepQ-ViT; see <see cref="SoftmaxLog2"/>).
    /// </summary>
    public string AttentionProbs { get; set; } = Schema.AttentionProbs.U8;
    /// <summary>Search the Q and K scales of every block with the attention rank-consistency objective (<see cref="AttentionScaleSearch"/>).</summary>
    public bool AttentionRankSearch { get; set; }
    /// <summary>
    /// Plan models: a Linear or Conv of the stem or head graph with at least this many multiply-adds runs in int8
    /// (calibrated input scale, per-channel weights); smaller ones stay float, where quantizing costs more than it saves.
    /// </summary>
    public long PlanInt8MinMacs { get; set; } = 1 << 15;
    /// <summary>Receives progress lines.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Calibrator name as written into the file.</summary>
    public string Describe() => (Calibrator switch
    {
        CalibratorKind.MinMax => "minmax",
        CalibratorKind.Percentile => $"percentile {Percentile}",
        CalibratorKind.Mse => "mse",
        _ => "entropy",
    }) + (SmoothAlpha is double a ? $", smoothquant alpha {a}" : "") + (GammaMigration ? ", gamma migration" : "") + (AttentionRankSearch ? ", attention rank search" : "")
        + (IntegerOnly ? ", integer-only" : "") + (WeightClip == WeightClip.Mse ? ", weight clip mse" : "")
        + (AttentionProbs != Schema.AttentionProbs.U8 ? $", attention probabilities {AttentionProbs}" : "") + (AdaRound is { } ar ? $", adaround {ar.Iterations}{(SequentialReconstruction ? " sequential" : "")}" : "") + (WeightBudgetBits is double wb ? $", mixed precision {wb:F2} bits" : "");
}

/// <summary>
/// Static PTQ of a <see cref="FloatEncoder"/> (ViT or BERT family): symmetric per-output-channel int8 weights, per-tensor
/// int8 activations calibrated on samples run through the FP32 engine, int32 biases, and the fixed-point
/// requantization parameters the integer kernels consume. Text embedding tables become int8 with one scale per row.
/// </summary>
public static class EncoderQuantizer
{
    /// <summary>Calibrates on <paramref name="images"/> (each [C·H·W], ONNX input convention) and returns the INT8 model file.</summary>
    public static ModelWriter Quantize(FloatEncoder enc, IReadOnlyList<float[]> images, PtqOptions options)
    {
        if (images.Count == 0) throw new ArgumentException("static quantization needs at least one calibration image");
        var logits = new float[enc.Config.NumClasses];
        return Quantize(enc, images.Count, (s, i) => s.Run(images[i], logits), options);
    }

    /// <summary>Calibrates a text encoder on token-id sequences (each with [CLS]/[SEP], unpadded) and returns the INT8 model file.</summary>
    public static ModelWriter Quantize(FloatEncoder enc, IReadOnlyList<int[]> sequences, PtqOptions options)
    {
        if (sequences.Count == 0) throw new ArgumentException("static quantization needs at least one calibration sentence");
        float[]? output = null;
        return Quantize(enc, sequences.Count, (s, i) => s.RunTokens(sequences[i], default, default, output ??= new float[s.Model.OutputLength]), options);
    }

    /// <summary>Calibrates with <paramref name="runSample"/>(session, i) for i in [0, samples) on the FP32 model; returns the INT8 model file.</summary>
    public static ModelWriter Quantize(FloatEncoder enc, int samples, Action<Session, int> runSample, PtqOptions options)
    {
        if (samples <= 0) throw new ArgumentException("static quantization needs at least one calibration sample");
        if (options.WeightBits is not (4 or 7 or 8)) throw new ArgumentException($"weight bits must be 4, 7 or 8, got {options.WeightBits}");
        if (options.AdaRound is { Iterations: < 1 } or { LearningRate: not > 0 } or { Lambda: < 0 })
            throw new ArgumentException("AdaRound needs at least one iteration, a positive learning rate and λ ≥ 0");
        if (options.SequentialReconstruction && options.AdaRound == null)
            throw new ArgumentException("sequential reconstruction needs AdaRound (its rounding is what is reconstructed)");
        if (options.WeightBudgetBits is double budget && (options.WeightBits != 4 || !(budget >= 4 && budget <= 8)))
            throw new ArgumentException("a mixed-precision weight budget needs 4-bit weights and 4..8 bits per weight");
        if (options.SmoothAlpha is double al && !(al >= 0 && al <= 1)) throw new ArgumentException($"SmoothQuant alpha must be in [0, 1], got {al}");
        if (options.IntegerOnly && (options.SmoothAlpha != null || options.GammaMigration))
            throw new ArgumentException("SmoothQuant's and gamma migration's per-channel input quantization is a float step: it is not available in the integer-only profile");
        if (!Schema.AttentionProbs.All.Contains(options.AttentionProbs))
            throw new ArgumentException($"attention probabilities must be u8, u4, log2 or logsqrt2, got '{options.AttentionProbs}'");
        if (options.SmoothAlpha != null && options.GammaMigration)
            throw new ArgumentException("choose SmoothQuant or gamma migration: both rescale the same linear inputs");
        var log = options.Log ?? (_ => { });
        var c0 = enc.Config;
        Dictionary<string, float[]>? smooth = null; // linear prefix → s [D]
        ActivationStatistics stats;
        if (options.SmoothAlpha is double alpha)
        {
            var channelStats = new ActivationStatistics(c0.Hidden, ActivationSite.AttnInput, ActivationSite.MlpInput);
            Calibrate(enc, samples, runSample, channelStats, 1, log);
            smooth = [];
            stats = new ActivationStatistics();
            for (int i = 0; i < c0.Layers; i++)
            {
                foreach (var (site, lin) in new[] { (ActivationSite.AttnInput, "qkv"), (ActivationSite.MlpInput, "fc1") })
                {
                    float[] sj = SmoothingFactors(channelStats.ChannelAbsMax(site, i), enc.Tensors[$"blocks.{i}.{lin}.w"], alpha);
                    smooth[$"blocks.{i}.{lin}"] = sj;
                    stats.SetDivisors(site, i, sj);
                }
            }
            log($"SmoothQuant (alpha {alpha}): per-channel factors for {2 * c0.Layers} linear inputs");
        }
        else if (options.GammaMigration)
        {
            smooth = [];
            stats = new ActivationStatistics();
            foreach (var (norm, linear) in SyntheticOutliers.NormFeeds(enc))
            {
                var (layer, lin) = WeightQuantizer.BlockLinear(linear);
                if (layer < 0) continue; // the float pooler/head need no migration
                float[] g = enc.Get(norm + ".g");
                var sj = new float[g.Length];
                for (int j = 0; j < g.Length; j++) sj[j] = Math.Clamp(MathF.Abs(g[j]), 1e-4f, 1e4f);
                smooth[linear] = sj;
                stats.SetDivisors(LinearInputGram.SiteOf(lin), layer, sj);
            }
            log($"gamma migration: |gamma| of the preceding LayerNorm moved into {smooth.Count} linear inputs");
        }
        else stats = new ActivationStatistics();
        Calibrate(enc, samples, runSample, stats, options.Calibrator == CalibratorKind.MinMax ? 1 : 2, log);
        AttentionScaleSearch? rank = null;
        if (options.AttentionRankSearch)
        {
            rank = new AttentionScaleSearch(c0.Hidden, c0.Heads);
            Calibrate(enc, Math.Min(samples, 16), runSample, rank, 1, log);
        }
        LinearInputGram? gram = null;
        if (options.AdaRound != null || options.WeightClip == WeightClip.Mse || options.WeightBudgetBits != null)
        {
            gram = new LinearInputGram(c0.Hidden, c0.MlpDim);
            Calibrate(enc, samples, runSample, gram, 1, log);
        }
        bool text = enc.Text != null;
        bool plan = enc.Plan != null; // stem and head: float op graphs, with int8 Linear/Conv where they carry the MACs
        if (plan && options.IntegerOnly)
            throw new ArgumentException("the integer-only profile does not support plan-graph stems yet; use the mixed profile");
        var planQ = plan ? PlanQuantizer.Quantize(enc, stats, options, log) : null;
        var c = enc.Config;
        int d = c.Hidden, dh = d / c.Heads;
        long blockMacs = (long)c.Layers * (3L * d * d * d + (long)d * d * d + (long)c.MlpDim * d * d + (long)d * c.MlpDim * c.MlpDim);
        var weights = new WeightQuantizer(options, gram, blockMacs, log);
        HashSet<string>? eightBit = options.WeightBudgetBits is double wbits ? MixedPrecision.ChooseEightBit(enc, gram!, wbits, log) : null;
        float Scale(ActivationSite s, int layer) => stats.ClipValue(s, layer, options.Calibrator, options.Percentile) / 127f;

        var w = new ModelWriter();
        var quant = new QuantConfig
        {
            Calibrator = options.Describe(),
            InputScale = text || plan ? 1f : Scale(ActivationSite.PatchInput, -1),
            HeadInputScale = text || plan ? 1f : Scale(ActivationSite.HeadInput, -1),
            Blocks = new BlockQuant[c.Layers],
            WeightBits = options.WeightBits,
            AttentionProbs = options.AttentionProbs,
        };
        double probScale = options.AttentionProbs switch { Schema.AttentionProbs.Log2 or Schema.AttentionProbs.LogSqrt2 => SoftmaxLog2.OutputScale, Schema.AttentionProbs.U4 => 1.0 / 16, _ => SoftmaxFixedPoint.OutputScale };
        int qmax = options.WeightBits switch { 4 => 7, 7 => 63, _ => 127 };
        int qmaxOuter = options.WeightBits == 4 ? 127 : qmax; // ViT patch embedding and head
        int Qmax(string prefix) => eightBit != null && eightBit.Contains(prefix) ? 127 : qmax;
        if (options.SequentialReconstruction) ReconstructSequentially(enc, samples, runSample, weights, Qmax, smooth, log);
        // Integer profile: the int32 residual stream's scale leaves 2^9 headroom above the largest value seen
        // anywhere in the stream (embeddings, residual adds, LayerNorm outputs).
        float sr = 0;
        Func<int, float>? toResidual = null;
        if (options.IntegerOnly)
        {
            float r = stats.AbsMax(ActivationSite.Residual, -1);
            for (int i = 0; i < c.Layers; i++)
                r = Math.Max(r, Math.Max(stats.AbsMax(ActivationSite.Residual, i), Math.Max(stats.AbsMax(ActivationSite.AttnInput, i), stats.AbsMax(ActivationSite.MlpInput, i))));
            r = Math.Max(r, stats.AbsMax(ActivationSite.HeadInput, -1));
            sr = Math.Max(r, 1e-6f) / (1 << 22);
            quant.Profile = Schema.Profiles.Integer;
            quant.ResidualScale = sr;
            quant.ResidualEps = Math.Max(1L, (long)Math.Round(c.LayerNormEps / ((double)sr * sr)));
            toResidual = _ => sr;
            foreach (var (name, (data, dims)) in enc.Tensors)
                if (name.EndsWith("ln.g", StringComparison.Ordinal) || name.EndsWith("ln1.g", StringComparison.Ordinal) || name.EndsWith("ln2.g", StringComparison.Ordinal))
                {
                    string n = name[..^2];
                    w.Add<int>(n + ".q32", TensorDType.S32, IntegerLayerNorm.Encode(data, enc.Get(n + ".b"), sr), 3, dims[0]);
                }
            log($"integer-only profile: residual scale {sr:G4} (max |x| {r:G4}), LayerNorm eps {quant.ResidualEps} in residual units^2");
        }
        if (!text && !plan)
        {
            QuantizeLinear(enc, w, weights, qmaxOuter, "embed.patch", quant.InputScale, toResidual);
            if (options.IntegerOnly) w.Add<int>("embed.tok.q", TensorDType.S32, TokenTable(enc, sr), c.SeqLen, d);
            QuantizeLinear(enc, w, weights, qmaxOuter, "head", quant.HeadInputScale, null);
        }
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"blocks.{i}.";
            var q = new BlockQuant
            {
                AttnInputScale = Scale(ActivationSite.AttnInput, i),
                QScale = Scale(ActivationSite.Query, i),
                KScale = Scale(ActivationSite.Key, i),
                VScale = Scale(ActivationSite.Value, i),
                ContextScale = Scale(ActivationSite.Context, i),
                MlpInputScale = Scale(ActivationSite.MlpInput, i),
                ActScale = Scale(ActivationSite.MlpActivation, i),
            };
            if (rank != null)
            {
                var r = rank.Search(i, stats.AbsMax(ActivationSite.Query, i), stats.AbsMax(ActivationSite.Key, i));
                var calibrated = (q.QScale, q.KScale);
                (q.QScale, q.KScale) = (r.QScale, r.KScale);
                log($"  block {i}: attention rank search: Q clip {q.QScale * 127:G3} (calibrated {calibrated.QScale * 127:G3}), K clip {q.KScale * 127:G3} ({calibrated.KScale * 127:G3}); loss {r.Loss:G3} vs {r.LossAtMax:G3} at max");
            }
            (q.ScoreMultiplier, q.ScoreShift) = Requantize.FromScale((double)q.QScale * q.KScale / Math.Sqrt(dh) / SoftmaxFixedPoint.InputScale);
            (q.ContextMultiplier, q.ContextShift) = Requantize.FromScale(probScale * q.VScale / q.ContextScale);
            QuantizeLinear(enc, w, weights, Qmax(p + "qkv"), p + "qkv", q.AttnInputScale, o => o < d ? q.QScale : o < 2 * d ? q.KScale : q.VScale, smooth?.GetValueOrDefault(p + "qkv"));
            QuantizeLinear(enc, w, weights, Qmax(p + "out"), p + "out", q.ContextScale, toResidual);
            if (c.Activation == Schema.Activations.Gelu)
            {
                QuantizeLinear(enc, w, weights, Qmax(p + "fc1"), p + "fc1", q.MlpInputScale, _ => (float)GeluFixedPoint.InputScale, smooth?.GetValueOrDefault(p + "fc1"));
                (q.ActMultiplier, q.ActShift) = Requantize.FromScale(GeluFixedPoint.OutputScale / q.ActScale);
                float pre = stats.AbsMax(ActivationSite.MlpPreActivation, i);
                if (pre > 32) log($"  note: block {i} MLP pre-activations reach {pre:F1}; the fixed-point GELU input saturates at 32");
            }
            else
            {
                QuantizeLinear(enc, w, weights, Qmax(p + "fc1"), p + "fc1", q.MlpInputScale, _ => q.ActScale, smooth?.GetValueOrDefault(p + "fc1"));
                (q.ActMultiplier, q.ActShift) = (1 << 30, 31); // unused by ReLU; kept valid
            }
            QuantizeLinear(enc, w, weights, Qmax(p + "fc2"), p + "fc2", q.ActScale, toResidual);
            quant.Blocks[i] = q;
        }
        // Float tensors the int8 path keeps: ViT class/distillation tokens and positions, LayerNorms, the text pooler and classifier (one row).
        foreach (var (name, (data, dims)) in enc.Tensors)
        {
            bool keep = name.StartsWith("plan.", StringComparison.Ordinal) && !planQ!.Replaced.Contains(name) // stem and head graph constants
                || (text ? name.StartsWith("pooler.", StringComparison.Ordinal) || name.StartsWith("head.", StringComparison.Ordinal)
                    : name is "embed.cls" or "embed.dist" or "embed.pos");
            if (keep || name.Contains("ln", StringComparison.Ordinal)) w.Add<float>(name, TensorDType.F32, data, dims);
        }
        if (text)
        {
            foreach (string table in (string[])["embed.word", "embed.pos", "embed.type"])
                if (enc.Tensors.ContainsKey(table)) QuantizeRows(enc, w, table, options.IntegerOnly ? sr : 0);
            enc.AddVocab(w);
        }
        if (planQ != null)
        {
            foreach (var (name, data, dims) in planQ.Int8) w.Add<sbyte>(name, TensorDType.S8, data, dims);
            foreach (var (name, data, dims) in planQ.Float) w.Add<float>(name, TensorDType.F32, data, dims);
        }
        w.Metadata = enc.Metadata(Schema.Precisions.Int8, quant);
        if (planQ != null) w.Metadata.Plan = planQ.Plan;
        return w;
    }

    /// <summary>An embedding table [rows, dim] as int8 with one symmetric scale per row (".scale" [rows]): a gathered row is exact to ±scale/2.</summary>
    private static void QuantizeRows(FloatEncoder enc, ModelWriter w, string name, float residualScale)
    {
        var (data, dims) = enc.Tensors[name];
        int rows = dims[0], dim = dims[1];
        var q = new sbyte[data.Length];  // [rows, dim]
        var scales = new float[rows];    // [rows]
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = data.AsSpan(r * dim, dim);
            float amax = 0;
            foreach (float v in row) amax = MathF.Max(amax, MathF.Abs(v));
            float s = amax > 0 ? amax / 127f : 0f;
            scales[r] = s;
            for (int j = 0; j < dim; j++) q[r * dim + j] = s > 0 ? (sbyte)Math.Clamp(MathF.Round(row[j] / s), -127, 127) : (sbyte)0;
        }
        w.Add<sbyte>(name, TensorDType.S8, q, rows, dim);
        w.Add<float>(name + ".scale", TensorDType.F32, scales, rows);
        if (residualScale > 0)
        {
            // Integer profile: each row's scale as a requantization into the residual stream ([2, rows]: multipliers, shifts).
            var rq = new int[2 * rows];
            for (int r = 0; r < rows; r++)
                (rq[r], rq[rows + r]) = scales[r] > 0 ? Requantize.FromScale((double)scales[r] / residualScale) : (0, 31);
            w.Add<int>(name + ".rqr", TensorDType.S32, rq, 2, rows);
        }
    }

    /// <summary>Integer profile, ViT: class/distillation tokens plus learned positions as int32 rows [T, D] at the residual scale.</summary>
    private static int[] TokenTable(FloatEncoder enc, float sr)
    {
        var c = enc.Config;
        int d = c.Hidden;
        float[] pos = enc.Get("embed.pos"); // [T, D]
        var t = new int[pos.Length];
        for (int i = 0; i < pos.Length; i++)
        {
            double v = pos[i];
            if (c.ClassToken && i < d) v += enc.Get("embed.cls")[i];
            if (c.DistillationToken && i >= d && i < 2 * d) v += enc.Get("embed.dist")[i - d];
            t[i] = (int)Math.Round(v / sr);
        }
        return t;
    }

    /// <summary>
    /// SmoothQuant factors s_j = max|X_j|^α / max_o|W[o, j]|^(1−α), clamped to [1e-4, 1e4]; a silent channel keeps 1.
    /// </summary>
    private static float[] SmoothingFactors(float[] actMax, (float[] Data, int[] Dims) w, double alpha)
    {
        int outDim = w.Dims[0], inDim = w.Dims[1];
        var s = new float[inDim];
        for (int j = 0; j < inDim; j++)
        {
            float wm = 0;
            for (int o = 0; o < outDim; o++) wm = MathF.Max(wm, MathF.Abs(w.Data[o * inDim + j]));
            s[j] = actMax[j] > 0 && wm > 0 ? (float)Math.Clamp(FloatReference.Pow(actMax[j], alpha) / FloatReference.Pow(wm, 1 - alpha), 1e-4, 1e4) : 1f;
        }
        return s;
    }

    /// <summary>The weights [out, in] the integer linear quantizes: W, or W · diag(s) with SmoothQuant / gamma-migration factors.</summary>
    private static (float[] W, int[] Dims) SmoothedWeights(FloatEncoder enc, string prefix, float[]? smooth)
    {
        var (wf, dims) = enc.Tensors[prefix + ".w"];
        if (smooth == null) return (wf, dims);
        wf = (float[])wf.Clone();
        for (int i = 0; i < wf.Length; i++) wf[i] *= smooth[i % dims[1]];
        return (wf, dims);
    }

    /// <summary>
    /// Sequential reconstruction: block by block, the calibration samples run through the FP32 model and through a copy
    /// whose earlier blocks carry their rounded weights; each linear of the block is rounded (AdaRound) against those
    /// paired inputs, then written back, dequantized, into the copy for the next block.
    /// </summary>
    private static void ReconstructSequentially(FloatEncoder enc, int samples, Action<Session, int> runSample, WeightQuantizer weights,
        Func<string, int> qmax, Dictionary<string, float[]>? smooth, Action<string> log)
    {
        var c = enc.Config;
        var replaced = new Dictionary<string, float[]>(StringComparer.Ordinal);
        using var reference = Model.Load(enc.ToFp32Writer().ToArray());
        for (int i = 0; i < c.Layers; i++)
        {
            var inputs = new SequentialInputs(i, c.Hidden, c.MlpDim);
            using (var rounded = Model.Load(enc.With(replaced).ToFp32Writer().ToArray()))
            using (var sf = reference.CreateSession(new SessionOptions { Observer = inputs.Reference }))
            using (var sq = rounded.CreateSession(new SessionOptions { Observer = inputs.Rounded }))
            {
                var progress = new Progress($"block {i}: paired calibration (FP32 and rounded blocks 0..{i - 1})", samples, log);
                for (int k = 0; k < samples; k++)
                {
                    runSample(sf, k);
                    runSample(sq, k);
                    progress.Report(k + 1);
                }
            }
            foreach (string lin in (string[])["qkv", "out", "fc1", "fc2"])
            {
                string prefix = $"blocks.{i}.{lin}";
                float[]? sm = smooth?.GetValueOrDefault(prefix);
                var (wf, dims) = SmoothedWeights(enc, prefix, sm);
                int outDim = dims[0], inDim = dims[1];
                var (q, scales) = weights.Quantize(prefix, wf, outDim, inDim, qmax(prefix), sm, inputs.Get(lin));
                var deq = new float[wf.Length]; // [out, in] ŵ in the FP32 model's input convention (smoothing undone per column)
                for (int o = 0; o < outDim; o++)
                    for (int k = 0; k < inDim; k++) deq[o * inDim + k] = q[o * inDim + k] * scales[o] / (sm?[k] ?? 1f);
                replaced[prefix + ".w"] = deq;
            }
        }
    }

    /// <summary>Runs the calibration samples through the FP32 model: pass 1 maxima, pass 2 (if any) histograms.</summary>
    private static void Calibrate(FloatEncoder enc, int samples, Action<Session, int> runSample, IActivationObserver observer, int passes, Action<string> log)
    {
        using var model = Model.Load(enc.ToFp32Writer().ToArray());
        using var session = model.CreateSession(new SessionOptions { Observer = observer });
        for (int pass = 0; pass < passes; pass++)
        {
            if (pass == 1 && observer is ActivationStatistics stats) stats.BeginHistogramPass();
            var progress = new Progress($"calibration pass {pass + 1}/{passes}", samples, log);
            for (int i = 0; i < samples; i++)
            {
                runSample(session, i);
                progress.Report(i + 1);
            }
        }
    }

    /// <summary>
    /// Per-output-channel symmetric int8 (or 7- or packed 4-bit) weights and int32 bias for input scale <paramref name="inScale"/>; with
    /// <paramref name="outScale"/> the output is requantized (".rq" [2, out]: multipliers then shifts), otherwise
    /// dequantized to float (".dq" [out]).
    /// </summary>
    private static void QuantizeLinear(FloatEncoder enc, ModelWriter w, WeightQuantizer weights, int qmax, string prefix, float inScale, Func<int, float>? outScale,
        float[]? smooth = null)
    {
        var (wf, dims) = SmoothedWeights(enc, prefix, smooth);
        if (smooth != null)
        {
            // W' = W · diag(s): the input arrives divided by s (".smooth" = 1 / (s_j · inScale) per channel).
            var mult = new float[dims[1]];
            for (int j = 0; j < mult.Length; j++) mult[j] = 1f / (smooth[j] * inScale);
            w.Add<float>(prefix + ".smooth", TensorDType.F32, mult, dims[1]);
        }
        float[] bf = enc.Get(prefix + ".b");
        int outDim = dims[0], inDim = dims[1];
        var (wq, scales) = weights.Quantize(prefix, wf, outDim, inDim, qmax, smooth); // [out, in], [out]
        var bq = new int[outDim];        // [out]
        var rq = new int[2 * outDim];    // [2, out]
        var dq = new float[outDim];      // [out]
        var wsum = new int[outDim];      // [out] Σ_k w_q, for the 7- and 4-bit kernels
        for (int o = 0; o < outDim; o++)
        {
            for (int k = 0; k < inDim; k++) wsum[o] += wq[o * inDim + k];
            double accScale = (double)inScale * scales[o];
            bq[o] = (int)Math.Clamp(Math.Round(bf[o] / accScale), int.MinValue, int.MaxValue);
            if (outScale != null) (rq[o], rq[outDim + o]) = Requantize.FromScale(accScale / outScale(o));
            else dq[o] = (float)accScale;
        }
        if (qmax == 7) w.Add(prefix + ".w4", TensorDType.U8, TensorLayout.S4Blocks32, GemmS4Reference.Pack(wq, outDim, inDim), outDim, GemmS4Reference.RowBytes(inDim));
        else w.Add<sbyte>(prefix + ".w", TensorDType.S8, wq, outDim, inDim);
        w.Add<int>(prefix + ".b", TensorDType.S32, bq, outDim);
        if (qmax is 63 or 7) w.Add<int>(prefix + ".wsum", TensorDType.S32, wsum, outDim);
        if (outScale != null) w.Add<int>(prefix + ".rq", TensorDType.S32, rq, 2, outDim);
        else w.Add<float>(prefix + ".dq", TensorDType.F32, dq, outDim);
    }
}
