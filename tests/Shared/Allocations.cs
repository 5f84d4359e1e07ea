namespace EdgeQuant.Tests;

/// <summary>Steady-state allocation of a call on this thread.</summary>
internal static class Allocations
{
    /// <summary>
    /// Bytes allocated by five calls of <paramref name="run"/> after ten warm-up calls, the best of up to four windows:
    /// the runtime's tiered JIT may allocate once on this thread while it swaps in optimized code, but a per-call
    /// allocation shows in every window.
    /// </summary>
    public static long PerFiveRuns(Action run)
    {
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 4 && best != 0; attempt++)
        {
            for (int i = 0; i < 10; i++) run();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) run();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }
}
