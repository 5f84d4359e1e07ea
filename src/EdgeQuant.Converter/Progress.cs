using System.Diagnostics;

namespace EdgeQuant.Converter;

/// <summary>Reports "what: i/n (p%), ETA" lines at most twice a second, and the final one.</summary>
public sealed class Progress(string what, int total, Action<string> log)
{
    private readonly Stopwatch _sw = Stopwatch.StartNew();
    private long _lastMs; // first interim line after 0.5 s: short work prints only its final line

    /// <summary>Reports that <paramref name="done"/> of the total items are finished.</summary>
    public void Report(int done)
    {
        long ms = _sw.ElapsedMilliseconds;
        if (done < total && ms - _lastMs < 500) return;
        _lastMs = ms;
        double eta = done > 0 ? ms / 1000.0 * (total - done) / done : 0;
        log(done < total
            ? $"  {what}: {done}/{total} ({100.0 * done / total:F0}%), ETA {eta:F0} s"
            : $"  {what}: {total}/{total} in {ms / 1000.0:F1} s");
    }
}
