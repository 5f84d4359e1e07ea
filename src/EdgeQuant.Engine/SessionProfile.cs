using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace EdgeQuant.Engine;

/// <summary>
/// Wall time per step of a session's runs (<see cref="SessionOptions.Profile"/>): the stem (or each stem-graph op),
/// each block's norms, GEMMs, attention and activation, and the head (or each head-graph op). Accumulates over runs;
/// recording is one timestamp per step and allocates nothing.
/// </summary>
public sealed class SessionProfile
{
    /// <summary>Steps of a block, in execution order (a step a path does not have stays at zero).</summary>
    internal enum BlockStep { AttnNorm, QkvGemm, QkvRequantize, Attention, OutGemm, MlpNorm, Fc1Gemm, Activation, Fc2Gemm }
    private static readonly string[] BlockStepNames =
        ["attention norm + quantize", "QKV GEMM", "QKV requantize", "attention", "out GEMM + residual (+ post-LN)",
         "MLP norm + quantize", "fc1 GEMM", "activation", "fc2 GEMM + residual (+ post-LN)"];
    internal const int BlockSteps = 9;

    private readonly string[] _names, _kinds;
    private readonly long[] _ticks;
    private readonly int _stemSteps, _blocks;
    private long _last;

    /// <summary>The same steps named for a decoder block (rotary + KV cache in the QKV-requantize slot).</summary>
    internal static readonly string[] DecoderStepNames =
        ["attention norm + quantize", "q/k/v GEMMs", "rotary + KV cache", "attention", "out GEMM + residual",
         "MLP norm + quantize", "gate/up GEMMs", "activation + quantize", "down GEMM + residual"];

    internal SessionProfile(string[] stemSteps, int blocks, string[] headSteps, string[]? blockStepNames = null)
    {
        var stepNames = blockStepNames ?? BlockStepNames;
        _stemSteps = stemSteps.Length;
        _blocks = blocks;
        var names = new List<string>();
        var kinds = new List<string>();
        foreach (var s in stemSteps) { names.Add(s); kinds.Add("stem"); }
        for (int b = 0; b < blocks; b++)
            for (int s = 0; s < BlockSteps; s++) { names.Add($"block {b}: {stepNames[s]}"); kinds.Add(stepNames[s]); }
        foreach (var s in headSteps) { names.Add(s); kinds.Add("head"); }
        (_names, _kinds) = (names.ToArray(), kinds.ToArray());
        _ticks = new long[_names.Length];
    }

    /// <summary>Runs recorded.</summary>
    public int Runs { get; private set; }

    internal void Begin()
    {
        Runs++;
        _last = Stopwatch.GetTimestamp();
    }

    /// <summary>Charges the time since the last mark to step <paramref name="index"/>.</summary>
    internal void Lap(int index)
    {
        long t = Stopwatch.GetTimestamp();
        _ticks[index] += t - _last;
        _last = t;
    }

    internal void Stem(int op) => Lap(op);
    internal void Block(int block, BlockStep step) => Lap(_stemSteps + block * BlockSteps + (int)step);
    internal void Head(int op) => Lap(_stemSteps + _blocks * BlockSteps + op);

    /// <summary>Clears the counts (e.g. after warm-up runs).</summary>
    public void Reset()
    {
        Array.Clear(_ticks);
        Runs = 0;
    }

    /// <summary>Steps in execution order with their mean time per run in milliseconds (steps that took no time left out).</summary>
    public IReadOnlyList<(string Step, double MsPerRun)> Steps()
    {
        var list = new List<(string, double)>();
        for (int i = 0; i < _ticks.Length; i++)
            if (_ticks[i] > 0) list.Add((_names[i], Ms(_ticks[i])));
        return list;
    }

    private double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency / Math.Max(Runs, 1);

    /// <summary>A table: every step with ms per run and share, then the totals per kind of step (all blocks together).</summary>
    public string Format()
    {
        var inv = CultureInfo.InvariantCulture;
        double total = 0;
        foreach (long t in _ticks) total += Ms(t);
        var sb = new StringBuilder();
        sb.Append(inv, $"{"step",-52} {"ms/run",9} {"share",7}\n");
        for (int i = 0; i < _ticks.Length; i++)
            if (_ticks[i] > 0) sb.Append(inv, $"{_names[i],-52} {Ms(_ticks[i]),9:F4} {100 * Ms(_ticks[i]) / total,6:F1}%\n");
        sb.Append(inv, $"\n{"by kind",-52} {"ms/run",9} {"share",7}\n");
        foreach (var kind in _kinds.Distinct())
        {
            double ms = 0;
            for (int i = 0; i < _ticks.Length; i++) if (_kinds[i] == kind) ms += Ms(_ticks[i]);
            if (ms > 0) sb.Append(inv, $"{kind,-52} {ms,9:F4} {100 * ms / total,6:F1}%\n");
        }
        sb.Append(inv, $"{"total",-52} {total,9:F4} {100.0,6:F1}%  ({Runs} runs)");
        return sb.ToString();
    }
}
