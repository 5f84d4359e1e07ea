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
    private byte[] _b4 = [];
    private int[] _bias = [], _c = [], _wsum4 = [];
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
        var w4 = new sbyte[_b.Length]; // [n, k] in [−7, 7]
        for (int i = 0; i < w4.Length; i++) w4[i] = (sbyte)(_b[i] / 19);
        _b4 = Kernels.Reference.GemmS4Reference.Pack(w4, _n, _kk);
        _wsum4 = new int[_n];
        for (int j = 0; j < _n; j++) for (int p = 0; p < _kk; p++) _wsum4[j] += w4[j * _kk + p];
    }

    /// <summary>One GEMM, 8-bit weights.</summary>
    [Benchmark]
    public void GemmS8S8() => _k.GemmS8S8(_a, _kk, _b, _kk, _bias, _c, _n, _m, _n, _kk);

    /// <summary>One GEMM, packed 4-bit weights.</summary>
    [Benchmark]
    public void GemmS8S4() => _k.GemmS8S4(_a, _kk, _b4, Kernels.Reference.GemmS4Reference.RowBytes(_kk), _bias, _wsum4, _c, _n, _m, _n, _kk);
}

/// <summary>
/// Register-resident peaks of the instruction sequences the x64 kernels can use: 8 independent accumulators fed by
/// 4 constant activation registers and 2 weight registers that change every iteration (one vpxor each, so nothing is
/// hoisted or shared), no memory traffic, 15 live ymm registers (no spills on AVX2's 16).
/// MACs per iteration: exact vpmaddwd = 8 × 16 (ymm) or 8 × 32 (zmm); vpmaddubsw + vpmaddwd(ones) = 8 × 32 (ymm).
/// </summary>
public class PeakBenchmarks : IMacCount
{
    private const int Iterations = 1 << 16;

    /// <inheritdoc/>
    public static double Macs(string method, IReadOnlyDictionary<string, object?> p) => method switch
    {
        nameof(Madd16Avx2) => Iterations * 8.0 * 16,
        nameof(Madd16Avx512) => Iterations * 8.0 * 32,
        nameof(MaddubsAvx2) => Iterations * 8.0 * 32,
        nameof(MaddubsDeferredAvx2) => Iterations * 8.0 * 32,
        _ => double.NaN,
    };

    /// <summary>vpmaddwd ymm + vpaddd: exact int16 pairs (the s8 GEMM's inner sequence).</summary>
    [Benchmark]
    public int Madd16Avx2()
    {
        if (!Avx2.IsSupported) return 0;
        Vector256<short> x0 = Vector256.Create((short)3), x1 = Vector256.Create((short)5), x2 = Vector256.Create((short)7), x3 = Vector256.Create((short)9);
        Vector256<short> w = Vector256.Create((short)-5), v = Vector256.Create((short)11), flip = Vector256.Create((short)0x55);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < Iterations; i++)
        {
            w = Avx2.Xor(w, flip);
            v = Avx2.Xor(v, flip);
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(x0, w)); a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(x1, w));
            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(x2, w)); a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(x3, w));
            a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(x0, v)); a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(x1, v));
            a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(x2, v)); a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(x3, v));
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /// <summary>vpmaddwd zmm + vpaddd.</summary>
    [Benchmark]
    public int Madd16Avx512()
    {
        if (!Avx512BW.IsSupported) return 0;
        Vector512<short> x0 = Vector512.Create((short)3), x1 = Vector512.Create((short)5), x2 = Vector512.Create((short)7), x3 = Vector512.Create((short)9);
        Vector512<short> w = Vector512.Create((short)-5), v = Vector512.Create((short)11), flip = Vector512.Create((short)0x55);
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < Iterations; i++)
        {
            w = Avx512F.Xor(w, flip);
            v = Avx512F.Xor(v, flip);
            a0 = Avx512F.Add(a0, Avx512BW.MultiplyAddAdjacent(x0, w)); a1 = Avx512F.Add(a1, Avx512BW.MultiplyAddAdjacent(x1, w));
            a2 = Avx512F.Add(a2, Avx512BW.MultiplyAddAdjacent(x2, w)); a3 = Avx512F.Add(a3, Avx512BW.MultiplyAddAdjacent(x3, w));
            a4 = Avx512F.Add(a4, Avx512BW.MultiplyAddAdjacent(x0, v)); a5 = Avx512F.Add(a5, Avx512BW.MultiplyAddAdjacent(x1, v));
            a6 = Avx512F.Add(a6, Avx512BW.MultiplyAddAdjacent(x2, v)); a7 = Avx512F.Add(a7, Avx512BW.MultiplyAddAdjacent(x3, v));
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /// <summary>vpmaddubsw + vpmaddwd(ones) + vpaddd: u8×s8 with int16 pair sums (the 7-bit-weight GEMM's inner sequence).</summary>
    [Benchmark]
    public int MaddubsAvx2()
    {
        if (!Avx2.IsSupported) return 0;
        Vector256<byte> x0 = Vector256.Create((byte)3), x1 = Vector256.Create((byte)5), x2 = Vector256.Create((byte)7), x3 = Vector256.Create((byte)9);
        Vector256<sbyte> w = Vector256.Create((sbyte)-5), v = Vector256.Create((sbyte)11), flip = Vector256.Create((sbyte)0x15);
        var ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < Iterations; i++)
        {
            w = Avx2.Xor(w, flip);
            v = Avx2.Xor(v, flip);
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x0, w), ones)); a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x1, w), ones));
            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x2, w), ones)); a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x3, w), ones));
            a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x0, v), ones)); a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x1, v), ones));
            a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x2, v), ones)); a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x3, v), ones));
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /// <summary>
    /// 8 × (vpmaddubsw + vpaddw into int16) then vpmaddwd(ones) + vpaddd: the 4-bit GEMM's deferred widening
    /// (8 int16 and 8 int32 accumulators: 16 + 6 live registers, so on AVX2's 16 the int32 side spills once per 8 steps).
    /// </summary>
    [Benchmark]
    public int MaddubsDeferredAvx2()
    {
        if (!Avx2.IsSupported) return 0;
        Vector256<byte> x0 = Vector256.Create((byte)3), x1 = Vector256.Create((byte)5), x2 = Vector256.Create((byte)7), x3 = Vector256.Create((byte)9);
        Vector256<sbyte> w = Vector256.Create((sbyte)-5), v = Vector256.Create((sbyte)6), flip = Vector256.Create((sbyte)0x3);
        var ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < Iterations / 8; i++)
        {
            Vector256<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int j = 0; j < 8; j++)
            {
                w = Avx2.Xor(w, flip);
                v = Avx2.Xor(v, flip);
                s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(x0, w)); s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(x1, w));
                s2 = Avx2.Add(s2, Avx2.MultiplyAddAdjacent(x2, w)); s3 = Avx2.Add(s3, Avx2.MultiplyAddAdjacent(x3, w));
                s4 = Avx2.Add(s4, Avx2.MultiplyAddAdjacent(x0, v)); s5 = Avx2.Add(s5, Avx2.MultiplyAddAdjacent(x1, v));
                s6 = Avx2.Add(s6, Avx2.MultiplyAddAdjacent(x2, v)); s7 = Avx2.Add(s7, Avx2.MultiplyAddAdjacent(x3, v));
            }
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(s0, ones)); a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(s1, ones));
            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(s2, ones)); a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(s3, ones));
            a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(s4, ones)); a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(s5, ones));
            a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(s6, ones)); a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(s7, ones));
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }
}
