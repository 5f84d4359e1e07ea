using System.Numerics.Tensors;
using EdgeQuant.Engine;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Second moments of the inputs of the block linears, H = (1/N) Σ_t x_t x_tᵀ over all N calibration tokens, from the
/// FP32 engine's observer hook. For a linear y = W x, the output error of rounded weights Ŵ over the calibration set
/// is exactly Σ_o (Ŵ_o − W_o)ᵀ H (Ŵ_o − W_o): what layer-wise reconstruction (AdaRound) and the mixed-precision
/// sensitivity minimize, without keeping the activations.
/// </summary>
public sealed class LinearInputGram : IActivationObserver
{
    private readonly Dictionary<(ActivationSite, int), (float[] H, int Dim)> _h = []; // [dim, dim]
    private readonly Dictionary<(ActivationSite, int), long> _tokens = [];
    private readonly int _hidden, _mlp;

    /// <summary>Collects the inputs of qkv, out, fc1 (width <paramref name="hidden"/>) and fc2 (<paramref name="mlp"/>) in every block.</summary>
    public LinearInputGram(int hidden, int mlp) => (_hidden, _mlp) = (hidden, mlp);

    /// <summary>The input site of a block linear ("qkv", "out", "fc1", "fc2").</summary>
    public static ActivationSite SiteOf(string linear) => linear switch
    {
        "qkv" => ActivationSite.AttnInput,
        "out" => ActivationSite.Context,
        "fc1" => ActivationSite.MlpInput,
        "fc2" => ActivationSite.MlpActivation,
        _ => throw new ArgumentException($"no input statistics for linear '{linear}'"),
    };

    /// <inheritdoc/>
    public void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values)
    {
        int dim = InputWidth(site, _hidden, _mlp);
        if (dim == 0 || layer < 0) return;
        var key = (site, layer);
        if (!_h.TryGetValue(key, out var e)) _h[key] = e = (new float[dim * dim], dim);
        int rows = values.Length / dim;
        // H += Σ_rows x xᵀ (float sums of at most a few 10^5 tokens keep ~1e-4 relative accuracy, plenty for rounding decisions)
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> x = values.Slice(r * dim, dim);
            AddOuter(x, x, e.H);
        }
        _tokens[key] = _tokens.GetValueOrDefault(key) + rows;
    }

    /// <summary>H [dim, dim] of the input of <paramref name="linear"/> in block <paramref name="layer"/>, divided by the token count.</summary>
    public float[] Get(string linear, int layer)
    {
        var key = (SiteOf(linear), layer);
        if (!_h.TryGetValue(key, out var e)) throw new InvalidOperationException($"no calibration statistics for blocks.{layer}.{linear}");
        return Mean(e.H, _tokens[key]);
    }

    /// <summary>Width of a block linear's input site (hidden or MLP), 0 for sites that feed no block linear.</summary>
    internal static int InputWidth(ActivationSite site, int hidden, int mlp) => site switch
    {
        ActivationSite.AttnInput or ActivationSite.Context or ActivationSite.MlpInput => hidden,
        ActivationSite.MlpActivation => mlp,
        _ => 0,
    };

    /// <summary>H += x yᵀ for H [x.Length, y.Length] (rank-1 update, rows of zero x skipped).</summary>
    internal static void AddOuter(ReadOnlySpan<float> x, ReadOnlySpan<float> y, float[] h)
    {
        int n = y.Length;
        for (int i = 0; i < x.Length; i++)
            if (x[i] != 0) TensorPrimitives.MultiplyAdd(y, x[i], h.AsSpan(i * n, n), h.AsSpan(i * n, n));
    }

    /// <summary>A summed moment divided by its token count.</summary>
    internal static float[] Mean(float[] sum, long tokens)
    {
        var r = new float[sum.Length];
        TensorPrimitives.Divide(sum, (float)tokens, r);
        return r;
    }
}
