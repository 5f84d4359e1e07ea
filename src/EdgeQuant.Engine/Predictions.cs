namespace EdgeQuant.Engine;

/// <summary>The top classes of a logit vector with their softmax probabilities: one definition for the C ABI's eq_topk, the CLI and the demos.</summary>
public static class Predictions
{
    /// <summary>
    /// Writes the indices of the k = <paramref name="indices"/>.Length largest logits, largest first (ties: the lower
    /// index first), and, unless <paramref name="probabilities"/> is empty, their softmax probabilities over all logits
    /// (max-subtracted, summed in double). Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">k is 0 or more than the logits, <paramref name="probabilities"/> is neither empty nor k long, or a logit is NaN or ±∞.</exception>
    public static void TopK(ReadOnlySpan<float> logits, Span<int> indices, Span<float> probabilities)
    {
        int k = indices.Length;
        if (k < 1 || k > logits.Length) throw new ArgumentException($"k = {k} must be in 1..count ({logits.Length})");
        if (!probabilities.IsEmpty && probabilities.Length != k) throw new ArgumentException($"probabilities holds {probabilities.Length} values, expected {k}");
        float max = float.NegativeInfinity;
        foreach (float v in logits)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("logits contain a non-finite value");
            max = MathF.Max(max, v);
        }
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        // Round r takes the largest logit strictly after round r − 1's pick in the order (value descending, index
        // ascending): no bookkeeping of taken classes.
        for (int r = 0; r < k; r++)
        {
            int prev = r > 0 ? indices[r - 1] : -1, best = -1;
            for (int i = 0; i < logits.Length; i++)
            {
                if (prev >= 0 && (logits[i] > logits[prev] || logits[i] == logits[prev] && i <= prev)) continue;
                if (best < 0 || logits[i] > logits[best]) best = i;
            }
            indices[r] = best;
            if (!probabilities.IsEmpty) probabilities[r] = (float)(Math.Exp(logits[best] - max) / sum);
        }
    }
}
