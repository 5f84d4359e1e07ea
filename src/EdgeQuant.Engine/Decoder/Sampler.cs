using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Engine.Decoder;

/// <summary>How the next token is chosen from the logits.</summary>
public sealed class SamplingOptions
{
    /// <summary>0 = greedy (argmax, ties to the lower id); otherwise logits are divided by it before sampling. Default 0.</summary>
    public float Temperature { get; set; }
    /// <summary>Sample among the k most likely tokens only; 0 = no limit. Default 40 (llama.cpp's).</summary>
    public int TopK { get; set; } = 40;
    /// <summary>Sample within the smallest set of most likely tokens whose probabilities sum to at least p (nucleus); 1 = no limit. Default 0.95.</summary>
    public float TopP { get; set; } = 0.95f;
    /// <summary>Logits of tokens seen in the window are divided (positive) or multiplied (negative) by it (CTRL's rule, as transformers and llama.cpp); 1 = off.</summary>
    public float RepetitionPenalty { get; set; } = 1f;
    /// <summary>How many of the most recent tokens the repetition penalty looks at. Default 64.</summary>
    public int RepetitionWindow { get; set; } = 64;
    /// <summary>Seed of the sampler's own generator (splitmix64): the same seed gives the same tokens on every machine.</summary>
    public ulong Seed { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || !float.IsFinite(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), $"temperature {Temperature} must be finite and >= 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), $"top-k {TopK} must be >= 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), $"top-p {TopP} must be in (0, 1]");
        if (!(RepetitionPenalty > 0) || !float.IsFinite(RepetitionPenalty)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), $"repetition penalty {RepetitionPenalty} must be finite and > 0");
        if (RepetitionWindow < 0) throw new ArgumentOutOfRangeException(nameof(RepetitionWindow), $"repetition window {RepetitionWindow} must be >= 0");
    }
}

/// <summary>
/// Picks tokens from logits: repetition penalty, then greedy, or temperature → top-k → top-p → a draw from the
/// renormalized probabilities. Scratch buffers are sized once for the vocabulary; <see cref="Next"/> allocates nothing.
/// Probabilities use the portable exponential, so a seed gives the same tokens on every ISA. One per session/thread.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _o;
    private readonly float[] _logits; // [vocab] penalized, scaled copy
    private readonly int[] _ids;      // [vocab] candidate ids, best first after selection
    private readonly float[] _keys;   // [vocab] their logits (sort keys)
    private ulong _state;

    /// <summary>A sampler for a vocabulary of <paramref name="vocab"/> tokens.</summary>
    public Sampler(int vocab, SamplingOptions options)
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab));
        options.Validate();
        _o = options;
        (_logits, _ids, _keys) = (new float[vocab], new int[vocab], new float[vocab]);
        _state = options.Seed;
    }

    /// <summary>The next token after <paramref name="logits"/> [vocab], given the tokens so far (<paramref name="history"/>, for the repetition penalty).</summary>
    public int Next(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        int v = _logits.Length;
        if (logits.Length != v) throw new ArgumentException($"logits have {logits.Length} values, the vocabulary {v}");
        var x = _logits.AsSpan();
        logits.CopyTo(x);
        if (_o.RepetitionPenalty != 1f)
        {
            float pen = _o.RepetitionPenalty;
            foreach (int id in history[Math.Max(0, history.Length - _o.RepetitionWindow)..])
                if ((uint)id < (uint)v) x[id] = logits[id] > 0 ? logits[id] / pen : logits[id] * pen; // once per id, however often it occurs
        }
        if (_o.Temperature == 0) return ArgMax(x);

        // Candidates: the top k by logit, best first (a full sort only when k is off or covers the vocabulary).
        int k = _o.TopK > 0 && _o.TopK < v ? _o.TopK : v;
        var ids = _ids.AsSpan(0, k);
        var keys = _keys.AsSpan(0, k);
        if (k == v)
        {
            for (int i = 0; i < v; i++) { _ids[i] = i; _keys[i] = -x[i]; }
            keys.Sort(ids); // ascending −logit = descending logit; equal logits keep no particular order, broken below
        }
        else SelectTop(x, ids, keys);
        SortTies(ids, keys);

        // Softmax over the candidates at the temperature, then the nucleus.
        float inv = 1f / _o.Temperature, top = -keys[0];
        double sum = 0;
        for (int i = 0; i < k; i++) { double p = FloatReference.Exp((-keys[i] - top) * inv); keys[i] = (float)p; sum += p; }
        int n = k;
        if (_o.TopP < 1f)
        {
            double acc = 0, need = _o.TopP * sum;
            for (n = 0; n < k;) { acc += keys[n++]; if (acc >= need) break; }
            sum = acc;
        }
        double r = NextUnit() * sum, c = 0;
        for (int i = 0; i < n; i++)
        {
            c += keys[i];
            if (r < c) return ids[i];
        }
        return ids[n - 1];
    }

    /// <summary>Index of the largest value, ties to the lower index.</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>The k largest of x into (ids, keys = −logit), best first, by a bounded min-heap on the logit.</summary>
    private static void SelectTop(ReadOnlySpan<float> x, Span<int> ids, Span<float> keys)
    {
        int k = ids.Length, size = 0;
        // Heap ordered by logit ascending at the root (the weakest of the kept); keys hold logits during selection.
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            if (size < k) { ids[size] = i; keys[size] = v; SiftUp(ids, keys, size++); }
            else if (v > keys[0]) { ids[0] = i; keys[0] = v; SiftDown(ids, keys, 0, k); }
        }
        for (int i = 0; i < k; i++) keys[i] = -keys[i];
        keys.Sort(ids);
    }

    private static bool Weaker(float a, int ia, float b, int ib) => a < b || (a == b && ia > ib);

    private static void SiftUp(Span<int> ids, Span<float> keys, int i)
    {
        while (i > 0)
        {
            int p = (i - 1) / 2;
            if (!Weaker(keys[i], ids[i], keys[p], ids[p])) break;
            (keys[i], keys[p], ids[i], ids[p]) = (keys[p], keys[i], ids[p], ids[i]);
            i = p;
        }
    }

    private static void SiftDown(Span<int> ids, Span<float> keys, int i, int n)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < n && Weaker(keys[l], ids[l], keys[m], ids[m])) m = l;
            if (r < n && Weaker(keys[r], ids[r], keys[m], ids[m])) m = r;
            if (m == i) return;
            (keys[i], keys[m], ids[i], ids[m]) = (keys[m], keys[i], ids[m], ids[i]);
            i = m;
        }
    }

    /// <summary>Within runs of equal keys, ids ascending (the sort is not stable): the order, and so the draw, is fixed.</summary>
    private static void SortTies(Span<int> ids, ReadOnlySpan<float> keys)
    {
        for (int i = 0; i < ids.Length;)
        {
            int j = i + 1;
            while (j < ids.Length && keys[j] == keys[i]) j++;
            if (j - i > 1) ids[i..j].Sort();
            i = j;
        }
    }

    /// <summary>Uniform in [0, 1) from splitmix64 (53 bits).</summary>
    private double NextUnit()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
