namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Plants the activation outliers real BERTs have (a few hidden channels whose LayerNorm γ and β are tens of times
/// larger than the rest) into a model, to test outlier-aware quantization. The result is a different FP32 model:
/// compare its quantized versions with its own FP32 outputs.
/// </summary>
public static class SyntheticOutliers
{
    /// <summary>
    /// Multiplies γ and β of <paramref name="channels"/> seeded channels by <paramref name="factor"/> in every
    /// LayerNorm that feeds a linear layer (embedding LN and both block LNs of post-LN encoders, both block LNs of
    /// pre-LN ones) — the pattern of real BERTs' outlier dimensions; returns the channels chosen.
    /// </summary>
    public static int[] Apply(FloatEncoder enc, int channels = 4, float factor = 50f, int seed = 11)
    {
        int d = enc.Config.Hidden;
        if (channels < 1 || channels > d) throw new ArgumentOutOfRangeException(nameof(channels), $"1..{d}");
        var rng = new Random(seed);
        int[] picked = Enumerable.Range(0, d).OrderBy(_ => rng.Next()).Take(channels).Order().ToArray();
        var norms = new List<string>();
        if (enc.Tensors.ContainsKey("embed_ln.g")) norms.Add("embed_ln");
        for (int i = 0; i < enc.Config.Layers; i++) norms.AddRange([$"blocks.{i}.ln1", $"blocks.{i}.ln2"]);
        foreach (string n in norms)
            foreach (string t in (string[])[n + ".g", n + ".b"])
            {
                float[] v = enc.Get(t);
                foreach (int c in picked) v[c] *= factor;
            }
        return picked;
    }
}
