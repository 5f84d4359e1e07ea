using System.Diagnostics;
using EdgeQuant.Kernels;

namespace EdgeQuant.Bench;

/// <summary>"gemm" verb: a quick Stopwatch GMAC/s table per kernel path (BenchmarkDotNet numbers come from "kernels").</summary>
internal static class QuickGemm
{
    public static int Execute(string[] args)
    {
        (int M, int N, int K)[] shapes = [(197, 768, 3072), (197, 3072, 768), (197, 1152, 384), (197, 1536, 384), (17, 192, 64), (197, 197, 64)];
        var r = new Random(1);
        foreach (var path in KernelTable.Available)
        {
            var k = KernelTable.Select(path);
            foreach (var (m, n, kk) in shapes)
            {
                if (path == "reference" && (long)m * n * kk > 50_000_000) continue;
                var a = new sbyte[m * kk];
                var b = new sbyte[n * kk];
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
                Console.WriteLine($"{path,-10} {m}x{n}x{kk,-6} {(double)m * n * kk / med / 1e9,7:F1} GMAC/s  ({med * 1e3:F3} ms)");
            }
        }
        return 0;
    }
}
