using System.Diagnostics;
using EdgeQuant.Kernels;

namespace EdgeQuant.Bench;

/// <summary>"gemm" verb: a quick Stopwatch GMAC/s table per kernel path (BenchmarkDotNet numbers come from "kernels").</summary>
internal static class QuickGemm
{
    /// <summary>A pinned array and the offset of its first 64-byte-aligned element, as the engine's operands are (arena, mapped file).</summary>
    private static unsafe ArraySegment<T> Aligned<T>(int count) where T : unmanaged
    {
        var arr = GC.AllocateArray<T>(count + 64 / sizeof(T), pinned: true);
        nint p = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref arr[0]);
        return new ArraySegment<T>(arr, (int)(((p + 63) & ~(nint)63) - p) / sizeof(T), count);
    }

    public static int Execute(string[] args)
    {
        // --best: the fastest repetition instead of the median (for A/B comparisons on a noisy host).
        bool best = args.Contains("--best");
        args = [.. args.Where(x => x != "--best")];
        (int M, int N, int K)[] shapes = args.Length > 0 ? [.. args.Select(s => s.Split('x').Select(int.Parse).ToArray()).Select(d => (d[0], d[1], d[2]))] : [(197, 768, 3072), (197, 3072, 768), (197, 1152, 384), (197, 1536, 384), (17, 192, 64), (197, 197, 64)];
        var r = new Random(1);
        foreach (var path in KernelTable.Available)
        {
            var k = KernelTable.Select(path);
            foreach (var (m, n, kk) in shapes)
            {
                if (path == "reference" && (long)m * n * kk > 50_000_000) continue;
                var a = Aligned<sbyte>(m * kk); // [m, k]
                var b = Aligned<sbyte>(n * kk); // [n, k]
                for (int i = 0; i < a.Count; i++) a[i] = (sbyte)r.Next(-127, 128);
                for (int i = 0; i < b.Count; i++) b[i] = (sbyte)r.Next(-127, 128);
                var bias = new int[n];
                var c = new int[m * n];
                int reps = (int)Math.Max(3, 2e9 / ((double)m * n * kk));
                double Gmacs(Action run)
                {
                    run(); // warm-up: scratch buffers grow once
                    var times = new double[reps];
                    for (int i = 0; i < reps; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        run();
                        times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    }
                    Array.Sort(times);
                    return (double)m * n * kk / times[best ? 0 : reps / 2] / 1e9;
                }
                double s8 = Gmacs(() => k.GemmS8S8(a, kk, b, kk, bias, c, n, m, n, kk));
                // The same shape with 7-bit weights (u8×s7 kernels where the path has them) and packed 4-bit ones.
                var b7 = Aligned<sbyte>(b.Count);
                for (int i = 0; i < b7.Count; i++) b7[i] = (sbyte)(b[i] / 2);
                var b4 = new sbyte[b.Count];
                for (int i = 0; i < b4.Length; i++) b4[i] = (sbyte)(b[i] / 19);
                var wsum7 = new int[n];
                var wsum4 = new int[n];
                for (int j = 0; j < n; j++) for (int p = 0; p < kk; p++) { wsum7[j] += b7[j * kk + p]; wsum4[j] += b4[j * kk + p]; }
                double s7 = Gmacs(() => k.GemmS8S7(a, kk, b7, kk, bias, wsum7, c, n, m, n, kk));
                var packed = Aligned<byte>(n * Kernels.Reference.GemmS4Reference.RowBytes(kk));
                Kernels.Reference.GemmS4Reference.Pack(b4, n, kk).CopyTo(packed.AsSpan());
                int rb = Kernels.Reference.GemmS4Reference.RowBytes(kk);
                double s4 = Gmacs(() => k.GemmS8S4(a, kk, packed, rb, bias, wsum4, c, n, m, n, kk));
                Console.WriteLine($"{path,-10} {m}x{n}x{kk,-6} GMAC/s  s8: {s8,6:F1}   s7: {s7,6:F1}   s4: {s4,6:F1}");
            }
        }
        return 0;
    }
}
