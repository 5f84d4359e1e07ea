using EdgeQuant.Engine;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Second moments of one linear's inputs from two models run on the same samples: x_f from the FP32 model and x_q
/// from a copy whose earlier layers already carry their rounded weights. AdaRound on (H_qq, H_qf, H_ff) then minimizes
/// E‖Ŵ x_q − W x_f‖² = ŵᵀH_qq ŵ − 2ŵᵀH_qf w + wᵀH_ff w per output channel: each layer reconstructs the FP32
/// layer's output from the inputs the rounded model will really give it, compensating the error of the layers before
/// (the asymmetric reconstruction of AdaRound's paper; BRECQ/MREM's motivation, but optimized layer by layer).
/// </summary>
public sealed class InputMoments(float[] hqq, float[] hqf, float[] hff)
{
    /// <summary>E[x_q x_qᵀ] [n, n].</summary>
    public float[] Hqq { get; } = hqq;
    /// <summary>E[x_q x_fᵀ] [n, n] (rows: x_q).</summary>
    public float[] Hqf { get; } = hqf;
    /// <summary>E[x_f x_fᵀ] [n, n].</summary>
    public float[] Hff { get; } = hff;

    /// <summary>FP32 inputs only: all three moments are H.</summary>
    public static InputMoments Symmetric(float[] h) => new(h, h, h);

    /// <summary>With SmoothQuant factors s the quantized linear sees x / s: every moment becomes H_ij / (s_i s_j).</summary>
    public InputMoments Smoothed(float[]? s)
    {
        if (s == null) return this;
        int n = s.Length;
        float[] Scale(float[] h)
        {
            var r = new float[h.Length];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) r[i * n + j] = h[i * n + j] / (s[i] * s[j]);
            return r;
        }
        return ReferenceEquals(Hqq, Hqf) && ReferenceEquals(Hqf, Hff) ? Symmetric(Scale(Hqq)) : new(Scale(Hqq), Scale(Hqf), Scale(Hff));
    }
}

/// <summary>Collects <see cref="InputMoments"/> of the four linears of one block from a reference and a rounded model run on the same samples.</summary>
public sealed class SequentialInputs
{
    private readonly int _layer, _hidden, _mlp;
    private readonly Dictionary<ActivationSite, float[]> _xf = [];      // the reference inputs of the current sample
    private readonly Dictionary<ActivationSite, (float[] Qq, float[] Qf, float[] Ff)> _h = [];
    private readonly Dictionary<ActivationSite, long> _tokens = [];

    /// <summary>For block <paramref name="layer"/> of an encoder of width <paramref name="hidden"/> and MLP width <paramref name="mlp"/>.</summary>
    public SequentialInputs(int layer, int hidden, int mlp)
    {
        (_layer, _hidden, _mlp) = (layer, hidden, mlp);
        Reference = new Recorder(this);
        Rounded = new Pairer(this);
    }

    /// <summary>Observer for the FP32 model: records the current sample's inputs.</summary>
    public IActivationObserver Reference { get; }
    /// <summary>Observer for the rounded model, run on the same sample right after: accumulates the moments.</summary>
    public IActivationObserver Rounded { get; }

    /// <summary>The moments of <paramref name="linear"/>'s input ("qkv", "out", "fc1", "fc2"), divided by the token count.</summary>
    public InputMoments Get(string linear)
    {
        var site = LinearInputGram.SiteOf(linear);
        if (!_h.TryGetValue(site, out var h)) throw new InvalidOperationException($"no paired statistics for blocks.{_layer}.{linear}");
        long n = _tokens[site];
        return new(LinearInputGram.Mean(h.Qq, n), LinearInputGram.Mean(h.Qf, n), LinearInputGram.Mean(h.Ff, n));
    }

    private int Dim(ActivationSite site, int layer) => layer != _layer ? 0 : LinearInputGram.InputWidth(site, _hidden, _mlp);

    private sealed class Recorder(SequentialInputs o) : IActivationObserver
    {
        public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
        {
            if (o.Dim(site, layer) == 0) return;
            o._xf[site] = values.ToArray();
        }
    }

    private sealed class Pairer(SequentialInputs o) : IActivationObserver
    {
        public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> xq)
        {
            int dim = o.Dim(site, layer);
            if (dim == 0) return;
            if (!o._xf.TryGetValue(site, out var xf) || xf.Length != xq.Length)
                throw new InvalidOperationException($"paired calibration: the rounded model's {site} input of block {layer} does not match the reference run");
            if (!o._h.TryGetValue(site, out var h)) o._h[site] = h = (new float[dim * dim], new float[dim * dim], new float[dim * dim]);
            int rows = xq.Length / dim;
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> q = xq.Slice(r * dim, dim), f = xf.AsSpan(r * dim, dim);
                LinearInputGram.AddOuter(q, q, h.Qq);
                LinearInputGram.AddOuter(q, f, h.Qf);
                LinearInputGram.AddOuter(f, f, h.Ff);
            }
            o._tokens[site] = o._tokens.GetValueOrDefault(site) + rows;
        }
    }
}
