using System.Diagnostics;
using EdgeQuant.Kernels;

namespace EdgeQuant.Bench;

/// <summary>"gemm" verb: a quick Stopwatch GMAC/s table per kernel path (BenchmarkDotNet numbers come from "kernels").</summary>
internal static class QuickGemm
{
    private static unsafe Span<T> Aligned<T>(int count) where T : unmanaged =>
        new(System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(count * sizeof(T)), 64), count); // freed at exit

    public static int Execute(string[] args)
    {
        (int M, int N, int K)[] shapes = args.Length > 0 ? [.. args.Select(s => s.Split('x').Select(int.Parse).ToArray()).Select(d => (d[0], d[1], d[2]))] : [(197, 768, 3072), (197, 3072, 768), (197, 1152, 384), (197, 1536, 384), (17, 192, 64), (197, 197, 64)];
        var r = new Random(1);
        foreach (var path in KernelTable.Available)
        {
            var k = KernelTable.Select(path);
            foreach (var (m, n, kk) in shapes)
            {
                if (path == "reference" && (long)m * n * kk > 50_000_000) continue;
                // 64-byte-aligned operands, as in the engine (arena and mapped model file).
                var a = Aligned<sbyte>(m * kk);
                var b = Aligned<sbyte>(n * kk);
                for (int i = 0; i < a.Length; i++) a[i] = (sbyte)r.Next(-127, 128);
                for (int i = 0; i < b.Length; i++) b[i] = (sbyte)r.Next(-127, 128);
                var bias = new int[n];
                var c = new int[m * n];
                k.GemmS8S8(a, kk, b, kk, bias, c, n, m, n, kk);
                int reps = (int)Math.Max(3, 2e9 / ((double)m * n * kk));
                var times = new List<double>();
                for (int i = 0; i < reps; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    k.GemmS8S8(a, kk, b, kk, bias, c, n, m, n, kk);
                    times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
                }
                times.Sort();
                double med = times[times.Count / 2];
                // The same shape with 7-bit weights (u8×s7 kernels where the path has them).
                var b7 = Aligned<sbyte>(b.Length);
                for (int i = 0; i < b7.Length; i++) b7[i] = (sbyte)(b[i] / 2);
                var wsum = new int[n];
                for (int j = 0; j < n; j++) for (int p = 0; p < kk; p++) wsum[j] += b7[j * kk + p];
                var t7 = new List<double>();
                for (int i = 0; i < reps; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    k.GemmS8S7(a, kk, b7, kk, bias, wsum, c, n, m, n, kk);
                    t7.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
                }
                t7.Sort();
                double med7 = t7[t7.Count / 2];
                Console.WriteLine($"{path,-10} {m}x{n}x{kk,-6} s8: {(double)m * n * kk / med / 1e9,6:F1} GMAC/s ({med * 1e3:F3} ms)   s7: {(double)m * n * kk / med7 / 1e9,6:F1} GMAC/s ({med7 * 1e3:F3} ms)");
            }
        }
        return 0;
    }
}
