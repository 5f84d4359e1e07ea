using System.Numerics.Tensors;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// AdaRound (Nagel et al., ICML 2020): learns, per weight, whether to round down or up, minimizing the layer's output
/// error on calibration data instead of each weight's own error. Each weight is ŵ = s·clamp(⌊w/s⌋ + h(V), −q, q) with
/// the rectified sigmoid h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1; V starts where h equals the
/// fractional part (nearest rounding's neighbourhood) and is trained with Adam on
/// r(ŵ) / r₀ + λ · mean(1 − |2h − 1|^β) with r(ŵ) = ŵᵀH_qq ŵ − 2ŵᵀH_qf w + wᵀH_ff w = E‖ŵᵀx_q − wᵀx_f‖², the
/// channel's output MSE over the calibration tokens (<see cref="InputMoments"/>: x_f the FP32 inputs, x_q the inputs
/// of the partly rounded model, or x_f again), r₀ the loss of nearest rounding, and β annealing from 20 to 2 after a
/// warm-up without the regularizer, which drives every h to 0 or 1. Output channels are independent given the
/// moments, so they are optimized in parallel.
/// </summary>
public static class AdaRound
{
    private const float Zeta = 1.1f, Gamma = -0.1f;

    /// <summary>Hyper-parameters (defaults: the paper's schedule, shortened; the learning rate raised to match).</summary>
    public sealed record Options
    {
        /// <summary>Adam steps per output channel.</summary>
        public int Iterations { get; init; } = 500;
        /// <summary>Adam learning rate on V.</summary>
        public float LearningRate { get; init; } = 0.05f;
        /// <summary>Weight λ of the rounding regularizer, per weight against the reconstruction loss normalized to 1 at nearest rounding (not the paper's scale; 10 leaves few weights undecided after 500 steps).</summary>
        public float Lambda { get; init; } = 10f;
        /// <summary>Fraction of the iterations run without the regularizer.</summary>
        public float Warmup { get; init; } = 0.2f;
    }

    /// <summary>Outcome of one layer: summed output-error loss of nearest rounding and of the learned rounding, and how many weights left nearest.</summary>
    public readonly record struct Result(double NearestLoss, double LearnedLoss, int Flipped, int Undecided);

    /// <summary>
    /// Rounds W [rows, n] at per-row scales to integers in [−qmax, qmax] into <paramref name="q"/> [rows, n], minimizing
    /// Σ_rows E‖ŵᵀx_q − wᵀx_f‖² for the input moments <paramref name="h"/> ([n, n] each).
    /// </summary>
    public static Result Round(float[] w, int rows, int n, float[] scales, int qmax, InputMoments h, Options o, sbyte[] q)
    {
        if (w.Length != rows * n || h.Hqq.Length != n * n || h.Hqf.Length != n * n || h.Hff.Length != n * n || scales.Length != rows || q.Length != rows * n)
            throw new ArgumentException("AdaRound: weight, scale, Gram matrix or output sizes do not match");
        double nearest = 0, learned = 0;
        int flipped = 0, undecided = 0;
        object sync = new();
        Parallel.For(0, rows, () => new Row(n), (r, _, row) =>
        {
            var (l0, l1, f, u) = row.Optimize(w.AsSpan(r * n, n), scales[r], qmax, h, o, q.AsSpan(r * n, n));
            lock (sync) { nearest += l0; learned += l1; flipped += f; undecided += u; }
            return row;
        }, _ => { });
        return new Result(nearest, learned, flipped, undecided);
    }

    /// <summary>Output-error loss (ŵ − w)ᵀ H (ŵ − w) of one channel's integers <paramref name="qi"/> at scale <paramref name="s"/>.</summary>
    public static double Loss(ReadOnlySpan<float> w, ReadOnlySpan<sbyte> qi, float s, float[] h, Span<float> e)
    {
        int n = w.Length;
        for (int j = 0; j < n; j++) e[j] = s * qi[j] - w[j];
        double l = 0;
        for (int j = 0; j < n; j++) l += e[j] * (double)FloatReference.DotLanes8(h.AsSpan(j * n, n), e);
        return l;
    }

    /// <summary>Per-thread buffers for one channel.</summary>
    private sealed class Row(int n)
    {
        private readonly float[] _floor = new float[n], _v = new float[n], _m = new float[n], _s2 = new float[n], _e = new float[n], _g = new float[n], _h = new float[n], _t = new float[n];
        private readonly sbyte[] _q0 = new sbyte[n];
        private double _c;

        /// <summary>r(ŵ) = ŵᵀH_qq ŵ − 2ŵᵀt + c for ŵ = s·qi, with t = H_qf w and c = wᵀH_ff w set up by <see cref="Optimize"/>.</summary>
        private double Loss(ReadOnlySpan<sbyte> qi, float s, float[] hqq)
        {
            for (int j = 0; j < n; j++) _e[j] = s * qi[j];
            double l = _c;
            for (int j = 0; j < n; j++) l += _e[j] * ((double)FloatReference.DotLanes8(hqq.AsSpan(j * n, n), _e) - 2.0 * _t[j]);
            return Math.Max(l, 0);
        }

        public (double Nearest, double Learned, int Flipped, int Undecided) Optimize(ReadOnlySpan<float> w, float s, int qmax, InputMoments hm, Options o, Span<sbyte> q)
        {
            float[] hqq = hm.Hqq;
            _c = 0;
            for (int j = 0; j < n; j++)
            {
                _t[j] = FloatReference.DotLanes8(hm.Hqf.AsSpan(j * n, n), w);
                _c += w[j] * (double)FloatReference.DotLanes8(hm.Hff.AsSpan(j * n, n), w);
            }
            for (int j = 0; j < n; j++)
            {
                float x = w[j] / s, f = MathF.Floor(x), rest = x - f;
                _floor[j] = f;
                // h(V) = rest: σ(V) = (rest − γ)/(ζ − γ)
                float p = Math.Clamp((rest - Gamma) / (Zeta - Gamma), 1e-4f, 1 - 1e-4f);
                _v[j] = (float)FloatReference.Log(p / (1 - p));
                _m[j] = _s2[j] = 0;
                _q0[j] = WeightQuantizer.Nearest(w[j], s, qmax);
            }
            double l0 = Loss(_q0, s, hqq);
            if (!(l0 > 0)) { _q0.CopyTo(q); return (l0, l0, 0, 0); }
            int warm = (int)(o.Iterations * o.Warmup);
            const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
            float c1 = 1, c2 = 1;
            for (int t = 0; t < o.Iterations; t++)
            {
                // ŵ with the soft rounding; ∂r/∂ŵ = 2 (H_qq ŵ − t)
                for (int j = 0; j < n; j++)
                {
                    float hv = Math.Clamp(Sigmoid(_v[j]) * (Zeta - Gamma) + Gamma, 0, 1);
                    _h[j] = hv;
                    _e[j] = s * Math.Clamp(_floor[j] + hv, -qmax, qmax);
                }
                for (int j = 0; j < n; j++) _g[j] = FloatReference.DotLanes8(hqq.AsSpan(j * n, n), _e) - _t[j];
                float beta = t < warm ? 0 : 20 + (2 - 20) * (float)(t - warm) / Math.Max(1, o.Iterations - warm);
                float regW = t < warm ? 0 : o.Lambda / n;
                c1 *= b1; c2 *= b2;
                for (int j = 0; j < n; j++)
                {
                    float sig = Sigmoid(_v[j]), hv = _h[j];
                    float raw = sig * (Zeta - Gamma) + Gamma;
                    float dhdv = raw is > 0 and < 1 ? (Zeta - Gamma) * sig * (1 - sig) : 0;
                    float qv = _floor[j] + hv;
                    float dl = qv > -qmax && qv < qmax ? 2 * s * _g[j] / (float)l0 : 0;
                    if (regW > 0)
                    {
                        float d = 2 * hv - 1;
                        dl -= regW * beta * (float)FloatReference.Pow(MathF.Abs(d), beta - 1) * MathF.Sign(d) * 2;
                    }
                    float g = dl * dhdv;
                    _m[j] = b1 * _m[j] + (1 - b1) * g;
                    _s2[j] = b2 * _s2[j] + (1 - b2) * g * g;
                    _v[j] -= o.LearningRate * (_m[j] / (1 - c1)) / (MathF.Sqrt(_s2[j] / (1 - c2)) + eps);
                }
            }
            int flipped = 0, undecided = 0;
            for (int j = 0; j < n; j++)
            {
                float hv = Math.Clamp(Sigmoid(_v[j]) * (Zeta - Gamma) + Gamma, 0, 1);
                if (hv is > 0.1f and < 0.9f) undecided++;
                q[j] = (sbyte)Math.Clamp(_floor[j] + (hv >= 0.5f ? 1 : 0), -qmax, qmax);
                if (q[j] != _q0[j]) flipped++;
            }
            double l1 = Loss(q, s, hqq);
            if (l1 > l0) { _q0.CopyTo(q); return (l0, l0, 0, undecided); } // never worse than nearest on the calibration data
            return (l0, l1, flipped, undecided);
        }

        private static float Sigmoid(float x) => (float)(1 / (1 + FloatReference.Exp(-x)));
    }
}
