namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Plants the activation outliers real BERTs have — a few hidden channels whose LayerNorm γ and β are tens of times
/// larger than the rest, read by linear layers whose weights for those channels are correspondingly small — to test
/// outlier-aware quantization. Every linear sees the same inputs as before (its weight columns are divided by the
/// factor); in post-LN encoders the residual stream keeps the outliers, so the FP32 model changes a little: compare
/// its quantized versions with its own FP32 outputs.
/// </summary>
public static class SyntheticOutliers
{
    /// <summary>Multiplies γ and β of <paramref name="channels"/> seeded channels by <paramref name="factor"/> in every LayerNorm that feeds a linear layer; returns the channels.</summary>
    public static int[] Apply(FloatEncoder enc, int channels = 4, float factor = 50f, int seed = 11)
    {
        var c = enc.Config;
        int d = c.Hidden;
        if (channels < 1 || channels > d) throw new ArgumentOutOfRangeException(nameof(channels), $"1..{d}");
        var rng = new Random(seed);
        int[] picked = Enumerable.Range(0, d).OrderBy(_ => rng.Next()).Take(channels).Order().ToArray();
        var pairs = NormFeeds(enc);
        foreach (var (norm, linear) in pairs)
        {
            foreach (string t in (string[])[norm + ".g", norm + ".b"])
            {
                float[] v = enc.Get(t);
                foreach (int ch in picked) v[ch] *= factor;
            }
            var (w, dims) = enc.Tensors[linear + ".w"]; // [out, in]
            for (int o = 0; o < dims[0]; o++)
                foreach (int ch in picked) w[o * dims[1] + ch] /= factor;
        }
        return picked;
    }

    /// <summary>
    /// (LayerNorm, the linear that reads its output) pairs: pre-LN blocks ln1 → qkv, ln2 → fc1; post-LN (BERT) the
    /// embedding LayerNorm → blocks.0.qkv, ln1 → fc1, ln2 → the next block's qkv (or the pooler/head after the last).
    /// </summary>
    public static List<(string Norm, string Linear)> NormFeeds(FloatEncoder enc)
    {
        var c = enc.Config;
        var pairs = new List<(string Norm, string Linear)>();
        if (c.NormFirst)
            for (int i = 0; i < c.Layers; i++) pairs.AddRange([($"blocks.{i}.ln1", $"blocks.{i}.qkv"), ($"blocks.{i}.ln2", $"blocks.{i}.fc1")]);
        else
        {
            if (enc.Tensors.ContainsKey("embed_ln.g")) pairs.Add(("embed_ln", "blocks.0.qkv"));
            for (int i = 0; i < c.Layers; i++)
            {
                pairs.Add(($"blocks.{i}.ln1", $"blocks.{i}.fc1"));
                string next = i + 1 < c.Layers ? $"blocks.{i + 1}.qkv" : enc.Tensors.ContainsKey("pooler.w") ? "pooler" : "head";
                if (enc.Tensors.ContainsKey(next + ".w")) pairs.Add(($"blocks.{i}.ln2", next));
            }
        }
        return pairs;
    }
}
