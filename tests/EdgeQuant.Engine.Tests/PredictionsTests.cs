using EdgeQuant.Tests;

namespace EdgeQuant.Engine.Tests;

/// <summary>The one top-k + softmax used by the C ABI's eq_topk, the CLI and the demos.</summary>
public class PredictionsTests
{
    [Fact]
    public void OrdersByLogitThenIndexWithSoftmaxProbabilities()
    {
        float[] logits = [1f, 3f, -2f, 3f, 0.5f];
        var idx = new int[5];
        var p = new float[5];
        Predictions.TopK(logits, idx, p);
        Assert.Equal([1, 3, 0, 4, 2], idx); // the tie 3 = 3 keeps the lower index first
        double sum = logits.Sum(v => Math.Exp(v - 3));
        for (int r = 0; r < 5; r++) Assert.Equal((float)(Math.Exp(logits[idx[r]] - 3) / sum), p[r]);
        var two = new int[2];
        Predictions.TopK(logits, two, default); // probabilities optional
        Assert.Equal([1, 3], two);
        Assert.Equal(0, Allocations.PerFiveRuns(() => Predictions.TopK(logits, idx, p)));
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Predictions.TopK([1f, 2f], new int[3], default));
        Assert.Throws<ArgumentException>(() => Predictions.TopK([1f, 2f], [], default));
        Assert.Throws<ArgumentException>(() => Predictions.TopK([1f, 2f], new int[2], new float[1]));
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => Predictions.TopK([1f, float.NaN], new int[1], default)).Message);
    }
}
