using System.Globalization;
using System.Net;
using System.Text;
using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// <c>--report report.html</c>: where a quantized model loses precision. Self-contained HTML with inline SVG:
/// end-to-end SQNR and cosine of the INT8 outputs against FP32; per quantization point the SQNR of quantizing the
/// FP32 activation with the chosen scale (and per-channel smoothing), its absolute maximum against the clip value and
/// its clipped share; per linear the SQNR of its int8 weights; per block the outlier channels of the linear inputs.
/// </summary>
public static class QuantizationReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Writes the report for <paramref name="quantized"/> (the converter's output) of <paramref name="enc"/>, measured on
    /// samples [0, samples); <paramref name="runSample"/>(session, i) runs sample i and returns a copy of its outputs.
    /// </summary>
    public static void Write(string path, FloatEncoder enc, byte[] quantized, int samples, Func<Session, int, float[]> runSample, Action<string>? log = null)
    {
        using var fp32 = Model.Load(enc.ToFp32Writer().ToArray());
        using var int8 = Model.Load(quantized);
        var c = enc.Config;
        var q = int8.Metadata.Quant!;
        var sites = new SiteObserver(int8, c.Hidden);
        double sig = 0, noise = 0, dot = 0, n1 = 0, n2 = 0;
        using (var sf = fp32.CreateSession(new SessionOptions { Observer = sites }))
        using (var sq = int8.CreateSession())
        {
            for (int i = 0; i < samples; i++)
            {
                float[] a = runSample(sf, i), b = runSample(sq, i);
                for (int j = 0; j < a.Length; j++)
                {
                    sig += (double)a[j] * a[j];
                    noise += (double)(a[j] - b[j]) * (a[j] - b[j]);
                    dot += (double)a[j] * b[j];
                    n1 += (double)a[j] * a[j];
                    n2 += (double)b[j] * b[j];
                }
            }
        }
        double outSqnr = 10 * Math.Log10(sig / Math.Max(noise, 1e-30)), cosine = dot / Math.Sqrt(n1 * n2 + 1e-30);
        log?.Invoke($"report: outputs SQNR {outSqnr:F1} dB, cosine {cosine:F5} on {samples} samples");

        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>EdgeQuant quantization report</title><style>")
            .Append("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")
            .Append("th{background:#eee}td.l{text-align:left}.bad{background:#fdd}</style></head><body>");
        html.Append($"<h1>Quantization report</h1><p>{Esc(enc.Source)} &rarr; W{q.WeightBits}A8, calibrator {Esc(q.Calibrator)}; {c.Layers} blocks, hidden {c.Hidden}.</p>");
        html.Append($"<h2>Outputs</h2><p>INT8 vs FP32 on {samples} calibration samples: SQNR <b>{F(outSqnr, 1)} dB</b>, cosine <b>{F(cosine, 5)}</b>.</p>");

        // Activation quantization points.
        var rows = sites.Rows();
        html.Append("<h2>Activation quantization points</h2><p>SQNR of quantizing the FP32 activation with the stored scale (per-channel when SmoothQuant is on); clipped = share of values beyond the clip value.</p>");
        html.Append(BarChart(rows.Select(r => (r.Layer < 0 ? $"{r.Site}" : $"{r.Layer}:{r.Site}", r.Sqnr)).ToList(), "SQNR (dB)"));
        html.Append("<table><tr><th>block</th><th>site</th><th>scale</th><th>clip</th><th>|x| max</th><th>max / clip</th><th>clipped</th><th>SQNR dB</th></tr>");
        foreach (var r in rows)
            html.Append($"<tr{(r.Sqnr < 20 ? " class=\"bad\"" : "")}><td>{(r.Layer < 0 ? "–" : r.Layer)}</td><td class=\"l\">{r.Site}</td><td>{r.Scale:G4}</td><td>{r.Scale * 127:G4}</td><td>{r.AbsMax:G4}</td><td>{F(r.AbsMax / (r.Scale * 127), 2)}</td><td>{F(100 * r.Clipped, 3)} %</td><td>{F(r.Sqnr, 1)}</td></tr>");
        html.Append("</table>");

        // Outlier channels of the linear inputs.
        html.Append("<h2>Outlier channels of the linear inputs</h2><p>Channels whose |x| max exceeds 6&times; the median channel's (these set a per-tensor scale; SmoothQuant migrates them into the weights).</p><table><tr><th>block</th><th>input of</th><th>median channel max</th><th>outlier channels (max)</th></tr>");
        foreach (var (layer, site, ch) in sites.ChannelMaxima())
        {
            float med = ch.Order().ElementAt(ch.Length / 2);
            var outl = ch.Select((v, j) => (v, j)).Where(t => t.v > 6 * med).OrderByDescending(t => t.v).Take(12).ToList();
            html.Append($"<tr><td>{layer}</td><td class=\"l\">{(site == ActivationSite.AttnInput ? "QKV" : "MLP fc1")}</td><td>{med:G4}</td><td class=\"l\">{(outl.Count == 0 ? "none" : string.Join(", ", outl.Select(t => $"{t.j} ({t.v:G3})")))}</td></tr>");
        }
        html.Append("</table>");

        // Weights.
        var wrows = new List<(string, double)>();
        foreach (var (name, (data, dims)) in enc.Tensors)
        {
            if (!name.EndsWith(".w", StringComparison.Ordinal) || dims.Length != 2) continue;
            int qmax = int8.File.TryGetTensor(name + "4", out _) ? 7 : int8.File.TryGetTensor(name, out var e) && e.DType == TensorDType.S8 ? (q.WeightBits == 7 ? 63 : 127) : 0;
            if (qmax > 0) wrows.Add((name[..^2] + (qmax == 7 ? " (4-bit)" : ""), WeightSqnr(data, dims[0], dims[1], qmax)));
        }
        html.Append("<h2>Weights (per-output-channel symmetric)</h2>").Append(BarChart(wrows, "SQNR (dB)"));
        html.Append("<table><tr><th>linear</th><th>SQNR dB</th></tr>");
        foreach (var (name, s) in wrows) html.Append($"<tr><td class=\"l\">{Esc(name)}</td><td>{F(s, 1)}</td></tr>");
        html.Append("</table><p>Weight SQNR is of the original FP32 weights (before SmoothQuant's column scaling), rounded to nearest with min-max scales at each layer's bit width (learned rounding and clip search optimize the output error instead, see the converter log).</p></body></html>");
        File.WriteAllText(path, html.ToString());
    }

    private static double WeightSqnr(float[] w, int outDim, int inDim, int qmax)
    {
        double sig = 0, noise = 0;
        for (int o = 0; o < outDim; o++)
        {
            float s = WeightQuantizer.MinMaxScale(w.AsSpan(o * inDim, inDim), qmax);
            for (int k = 0; k < inDim; k++)
            {
                float v = w[o * inDim + k], dq = WeightQuantizer.Nearest(v, s, qmax) * s;
                (sig, noise) = (sig + (double)v * v, noise + (double)(v - dq) * (v - dq));
            }
        }
        return 10 * Math.Log10(sig / Math.Max(noise, 1e-30));
    }

    private static string F(double v, int digits) => v.ToString("F" + digits, Inv);
    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    /// <summary>A compact vertical bar chart as inline SVG (red below 20 dB, orange below 30).</summary>
    private static string BarChart(List<(string Label, double Value)> bars, string axis)
    {
        if (bars.Count == 0) return "";
        int w = Math.Max(400, bars.Count * 14 + 60), h = 220;
        double max = Math.Max(1, bars.Max(b => b.Value));
        var sb = new StringBuilder($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h + 110}\" font-size=\"9\">");
        sb.Append($"<text x=\"4\" y=\"12\" font-size=\"11\">{Esc(axis)} (max {F(max, 1)})</text>");
        for (int i = 0; i < bars.Count; i++)
        {
            double v = Math.Max(0, bars[i].Value);
            double bh = v / max * (h - 30);
            double x = 40 + i * 14, y = h - bh;
            string color = bars[i].Value < 20 ? "#d33" : bars[i].Value < 30 ? "#e90" : "#39c";
            sb.Append($"<rect x=\"{F(x, 1)}\" y=\"{F(y, 1)}\" width=\"11\" height=\"{F(bh, 1)}\" fill=\"{color}\"><title>{Esc(bars[i].Label)}: {F(bars[i].Value, 1)}</title></rect>");
            sb.Append($"<text transform=\"translate({F(x + 8, 1)},{h + 4}) rotate(70)\">{Esc(bars[i].Label)}</text>");
        }
        sb.Append($"<line x1=\"38\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#333\"/></svg>");
        return sb.ToString();
    }

    /// <summary>Fake-quantizes every observed activation with the INT8 model's scale and accumulates its error.</summary>
    private sealed class SiteObserver(Model int8, int hidden) : IActivationObserver
    {
        private readonly Dictionary<(int, ActivationSite), (double Sig, double Noise, long N, long Clipped, float Max)> _acc = [];
        private readonly Dictionary<(int, ActivationSite), float[]> _channelMax = [];
        private readonly Dictionary<(int, ActivationSite), float[]?> _smooth = [];

        /// <summary>The SmoothQuant multipliers of a linear input (null when it is quantized per tensor), read from the file once.</summary>
        private float[]? Smooth(int layer, ActivationSite site)
        {
            if (_smooth.TryGetValue((layer, site), out var cached)) return cached;
            string t = $"blocks.{layer}.{(site == ActivationSite.AttnInput ? "qkv" : "fc1")}.smooth";
            return _smooth[(layer, site)] = int8.File.TryGetTensor(t, out var e) ? int8.File.Data<float>(e).ToArray() : null;
        }

        public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
        {
            if (layer < 0 && int8.IsText) return; // text models keep embeddings and head in float
            var qc = int8.Metadata.Quant!;
            float[]? smooth = null;
            float scale = ScaleOf(qc, layer, site);
            if (scale <= 0) return;
            if (site is ActivationSite.AttnInput or ActivationSite.MlpInput)
            {
                smooth = Smooth(layer, site);
                if (!_channelMax.TryGetValue((layer, site), out var cm)) _channelMax[(layer, site)] = cm = new float[hidden];
                for (int i = 0; i < values.Length; i++) cm[i % hidden] = MathF.Max(cm[i % hidden], MathF.Abs(values[i]));
            }
            var (sig, noise, n, clipped, max) = _acc.GetValueOrDefault((layer, site));
            for (int i = 0; i < values.Length; i++)
            {
                float v = values[i];
                float inv = smooth != null ? smooth[i % smooth.Length] : 1f / scale;
                float qv = MathF.Round(v * inv);
                if (MathF.Abs(qv) > 127) clipped++;
                float dq = Math.Clamp(qv, -127f, 127f) / inv;
                sig += (double)v * v;
                noise += (double)(v - dq) * (v - dq);
                max = MathF.Max(max, MathF.Abs(v));
            }
            _acc[(layer, site)] = (sig, noise, n + values.Length, clipped, max);
        }

        public List<(int Layer, ActivationSite Site, float Scale, float AbsMax, double Clipped, double Sqnr)> Rows()
        {
            var rows = new List<(int, ActivationSite, float, float, double, double)>();
            foreach (var ((layer, site), (sig, noise, n, clipped, max)) in _acc.OrderBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2))
            {
                float scale = ScaleOf(int8.Metadata.Quant!, layer, site);
                rows.Add((layer, site, scale, max, (double)clipped / Math.Max(1, n), 10 * Math.Log10(sig / Math.Max(noise, 1e-30))));
            }
            return rows;
        }

        /// <summary>The stored int8 scale of a quantization point (0 for sites that are not quantized per tensor; layer −1 = outside the blocks).</summary>
        private static float ScaleOf(QuantConfig qc, int layer, ActivationSite site)
        {
            if (layer < 0)
                return site switch
                {
                    ActivationSite.PatchInput => qc.InputScale,
                    ActivationSite.HeadInput => qc.HeadInputScale,
                    _ => 0f,
                };
            var bq = qc.Blocks[layer];
            return site switch
            {
                ActivationSite.AttnInput => bq.AttnInputScale,
                ActivationSite.Query => bq.QScale,
                ActivationSite.Key => bq.KScale,
                ActivationSite.Value => bq.VScale,
                ActivationSite.Context => bq.ContextScale,
                ActivationSite.MlpInput => bq.MlpInputScale,
                ActivationSite.MlpActivation => bq.ActScale,
                _ => 0f,
            };
        }

        public IEnumerable<(int Layer, ActivationSite Site, float[] Max)> ChannelMaxima() =>
            _channelMax.OrderBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value));
    }
}
