using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using EdgeQuant.Kernels;

namespace EdgeQuant.Bench;

/// <summary>BenchmarkDotNet entry: GEMM GMAC/s per kernel path and shape, and register-resident instruction peaks.</summary>
internal static class KernelBenchmarks
{
    public static int Execute(string[] args)
    {
        var config = DefaultConfig.Instance.AddColumn(new GmacColumn()).WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromTypes([typeof(GemmBenchmarks), typeof(PeakBenchmarks)]).Run(args, config);
        return 0;
    }
}

/// <summary>Benchmarks that know how many multiply-accumulates one operation performs.</summary>
public interface IMacCount
{
    /// <summary>MACs of one benchmark operation for the given parameter values.</summary>
    static abstract double Macs(string method, IReadOnlyDictionary<string, object?> parameters);
}

/// <summary>"GMAC/s" = MACs per operation / mean time per operation.</summary>
internal sealed class GmacColumn : IColumn
{
    public string Id => "GMACs";
    public string ColumnName => "GMAC/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "multiply-accumulates per second / 1e9";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase c, SummaryStyle style)
    {
        var report = summary[c];
        if (report?.ResultStatistics is not { } stats) return "-";
        var p = c.Parameters.Items.ToDictionary(i => i.Name, i => (object?)i.Value);
        string method = c.Descriptor.WorkloadMethod.Name;
        double macs = c.Descriptor.Type == typeof(GemmBenchmarks) ? GemmBenchmarks.Macs(method, p) : PeakBenchmarks.Macs(method, p);
        return (macs / stats.Mean).ToString("F1"); // MACs per ns = GMAC/s
    }
}

/// <summary>C = A·Bᵀ int8 GEMMs of transformer shapes (M tokens × N outputs × K inputs), every path of this CPU.</summary>
public class GemmBenchmarks : IMacCount
{
    private KernelSet _k = null!;
    private sbyte[] _a = [], _b = [];
    private int[] _bias = [], _c = [];
    private int _m, _n, _kk;

    /// <summary>Kernel paths available here.</summary>
    public static IEnumerable<string> Paths() => KernelTable.Available.Where(p => p != "reference");

    /// <summary>Kernel path.</summary>
    [ParamsSource(nameof(Paths))]
    public string Path { get; set; } = "";

    /// <summary>M x N x K.</summary>
    [Params("197x768x3072", "197x3072x768", "197x2304x768", "197x1152x384", "197x1536x384", "197x384x1536", "197x197x64", "17x192x64")]
    public string Shape { get; set; } = "";

    /// <inheritdoc/>
    public static double Macs(string method, IReadOnlyDictionary<string, object?> p)
    {
        var d = ((string)p["Shape"]!).Split('x').Select(double.Parse).ToArray();
        return d[0] * d[1] * d[2];
    }

    /// <summary>Random symmetric int8 operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _k = KernelTable.Select(Path);
        var d = Shape.Split('x').Select(int.Parse).ToArray();
        (_m, _n, _kk) = (d[0], d[1], d[2]);
        var r = new Random(1);
        _a = new sbyte[_m * _kk];
        _b = new sbyte[_n * _kk];
        for (int i = 0; i < _a.Length; i++) _a[i] = (sbyte)r.Next(-127, 128);
        for (int i = 0; i < _b.Length; i++) _b[i] = (sbyte)r.Next(-127, 128);
        _bias = new int[_n];
        _c = new int[_m * _n];
    }

    /// <summary>One GEMM.</summary>
    [Benchmark]
    public void GemmS8S8() => _k.GemmS8S8(_a, _kk, _b, _kk, _bias, _c, _n, _m, _n, _kk);
}

/// <summary>
/// Register-resident peaks of the instruction sequences the x64 kernels can use: 12 independent dependency chains
/// (each accumulator feeds its own next multiply, so nothing is hoisted or shared), no memory traffic. MACs per iteration: exact vpmaddwd ymm = 12 × 16; vpmaddubsw + vpmaddwd (u8×s8, saturating) = 12 × 32.
/// </summary>
public class PeakBenchmarks : IMacCount
{
    private const int Iterations = 1 << 16;

    /// <inheritdoc/>
    public static double Macs(string method, IReadOnlyDictionary<string, object?> p) => method switch
    {
        nameof(Madd16Avx2) => Iterations * 12.0 * 16,
        nameof(Madd16Avx512) => Iterations * 12.0 * 32,
        nameof(MaddubsAvx2) => Iterations * 12.0 * 32,
        _ => double.NaN,
    };

    /// <summary>vpmaddwd ymm + vpaddd: exact int16 pairs.</summary>
    [Benchmark]
    public int Madd16Avx2()
    {
        if (!Avx2.IsSupported) return 0;
        var w = Vector256.Create((short)-5);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector256<int> a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(a0.AsInt16(), w)); a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(a1.AsInt16(), w));
            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(a2.AsInt16(), w)); a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(a3.AsInt16(), w));
            a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(a4.AsInt16(), w)); a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(a5.AsInt16(), w));
            a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(a6.AsInt16(), w)); a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(a7.AsInt16(), w));
            a8 = Avx2.Add(a8, Avx2.MultiplyAddAdjacent(a8.AsInt16(), w)); a9 = Avx2.Add(a9, Avx2.MultiplyAddAdjacent(a9.AsInt16(), w));
            a10 = Avx2.Add(a10, Avx2.MultiplyAddAdjacent(a10.AsInt16(), w)); a11 = Avx2.Add(a11, Avx2.MultiplyAddAdjacent(a11.AsInt16(), w));
        }
        return Sum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
    }

    /// <summary>vpmaddwd zmm + vpaddd.</summary>
    [Benchmark]
    public int Madd16Avx512()
    {
        if (!Avx512BW.IsSupported) return 0;
        var w = Vector512.Create((short)-5);
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<int> a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Avx512F.Add(a0, Avx512BW.MultiplyAddAdjacent(a0.AsInt16(), w)); a1 = Avx512F.Add(a1, Avx512BW.MultiplyAddAdjacent(a1.AsInt16(), w));
            a2 = Avx512F.Add(a2, Avx512BW.MultiplyAddAdjacent(a2.AsInt16(), w)); a3 = Avx512F.Add(a3, Avx512BW.MultiplyAddAdjacent(a3.AsInt16(), w));
            a4 = Avx512F.Add(a4, Avx512BW.MultiplyAddAdjacent(a4.AsInt16(), w)); a5 = Avx512F.Add(a5, Avx512BW.MultiplyAddAdjacent(a5.AsInt16(), w));
            a6 = Avx512F.Add(a6, Avx512BW.MultiplyAddAdjacent(a6.AsInt16(), w)); a7 = Avx512F.Add(a7, Avx512BW.MultiplyAddAdjacent(a7.AsInt16(), w));
            a8 = Avx512F.Add(a8, Avx512BW.MultiplyAddAdjacent(a8.AsInt16(), w)); a9 = Avx512F.Add(a9, Avx512BW.MultiplyAddAdjacent(a9.AsInt16(), w));
            a10 = Avx512F.Add(a10, Avx512BW.MultiplyAddAdjacent(a10.AsInt16(), w)); a11 = Avx512F.Add(a11, Avx512BW.MultiplyAddAdjacent(a11.AsInt16(), w));
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    /// <summary>vpmaddubsw + vpmaddwd(ones) + vpaddd: u8×s8, saturating in int16.</summary>
    [Benchmark]
    public int MaddubsAvx2()
    {
        if (!Avx2.IsSupported) return 0;
        var w = Vector256.Create((sbyte)-5);
        var ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector256<int> a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a0.AsByte(), w), ones)); a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a1.AsByte(), w), ones));
            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a2.AsByte(), w), ones)); a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a3.AsByte(), w), ones));
            a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a4.AsByte(), w), ones)); a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a5.AsByte(), w), ones));
            a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a6.AsByte(), w), ones)); a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a7.AsByte(), w), ones));
            a8 = Avx2.Add(a8, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a8.AsByte(), w), ones)); a9 = Avx2.Add(a9, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a9.AsByte(), w), ones));
            a10 = Avx2.Add(a10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a10.AsByte(), w), ones)); a11 = Avx2.Add(a11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a11.AsByte(), w), ones));
        }
        return Sum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Sum(params Vector256<int>[] v)
    {
        var s = Vector256<int>.Zero;
        foreach (var x in v) s += x;
        return Vector256.Sum(s);
    }
}
