namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Per-layer mixed precision under a size budget: every block linear starts at 4 bits; the layers whose 4-bit
/// weights cost the most output accuracy per stored byte are raised to 8 bits until the average weight width
/// reaches the budget. A layer's sensitivity is the increase of its output noise-to-signal ratio,
/// (Σ_o e_oᵀ H e_o) / (Σ_o w_oᵀ H w_o), from 8-bit to 4-bit nearest rounding, with H the second moment of the layer's
/// calibration inputs (<see cref="LinearInputGram"/>), so it measures what the layer's output loses on real data.
/// </summary>
public static class MixedPrecision
{
    /// <summary>The block linears ("blocks.i.qkv", ...) to keep at 8 bits so the average block-linear weight has at most <paramref name="budgetBits"/> bits.</summary>
    public static HashSet<string> ChooseEightBit(FloatEncoder enc, LinearInputGram gram, double budgetBits, Action<string> log)
    {
        if (!(budgetBits >= 4 && budgetBits <= 8)) throw new ArgumentException($"weight budget must be 4..8 bits per weight, got {budgetBits}");
        var layers = new List<(string Prefix, long Count, double Sensitivity)>();
        long total = 0;
        for (int i = 0; i < enc.Config.Layers; i++)
            foreach (string lin in (string[])["qkv", "out", "fc1", "fc2"])
            {
                string prefix = $"blocks.{i}.{lin}";
                var (w, dims) = enc.Tensors[prefix + ".w"];
                float[] h = gram.Get(lin, i);
                double n4 = NoiseToSignal(w, dims[0], dims[1], 7, h), n8 = NoiseToSignal(w, dims[0], dims[1], 127, h);
                layers.Add((prefix, w.Length, n4 - n8));
                total += w.Length;
            }
        // Greedy by sensitivity per weight (the knapsack's ratio rule): each raise costs 4 more bits per weight.
        layers.Sort((a, b) => (b.Sensitivity / b.Count).CompareTo(a.Sensitivity / a.Count));
        var keep = new HashSet<string>(StringComparer.Ordinal);
        double bits = 4.0 * total;
        log($"mixed precision (budget {budgetBits:F2} bits per block-linear weight): sensitivity = output noise/signal at 4 bits minus at 8 bits");
        foreach (var (prefix, count, sens) in layers)
        {
            bool raise = bits + 4.0 * count <= budgetBits * total;
            if (raise) { keep.Add(prefix); bits += 4.0 * count; }
            log($"  {prefix,-16} {count,9} weights  sensitivity {sens:E2}  -> {(raise ? 8 : 4)} bits");
        }
        log($"mixed precision: {keep.Count} of {layers.Count} block linears at 8 bits, {bits / total:F2} bits per weight on average");
        return keep;
    }

    /// <summary>(Σ_o e_oᵀ H e_o) / (Σ_o w_oᵀ H w_o) for nearest rounding with min-max per-channel scales.</summary>
    private static double NoiseToSignal(float[] w, int outDim, int inDim, int qmax, float[] h)
    {
        var e = new float[inDim];
        var q = new sbyte[inDim];
        double noise = 0, signal = 0;
        for (int o = 0; o < outDim; o++)
        {
            ReadOnlySpan<float> row = w.AsSpan(o * inDim, inDim);
            float s = WeightQuantizer.MinMaxScale(row, qmax);
            for (int k = 0; k < inDim; k++) q[k] = WeightQuantizer.Nearest(row[k], s, qmax);
            noise += AdaRound.Loss(row, q, s, h, e);
            q.AsSpan().Clear();
            signal += AdaRound.Loss(row, q, s, h, e); // ŵ = 0: the output energy wᵀ H w
        }
        return signal > 0 ? noise / signal : 0;
    }
}
