using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Converter.Quantization;

/// <summary>
/// Int8 for the stem and head graphs of a plan model where they carry the multiply-adds: every Linear and one-group
/// Conv with a constant weight used by it alone and at least <see cref="PtqOptions.PlanInt8MinMacs"/> MACs becomes
/// <see cref="OpKinds.LinearS8"/> / <see cref="OpKinds.ConvS8"/> — input quantized per tensor at the calibrated scale
/// (the same calibrator as the blocks), weights per output channel (symmetric, 8-bit, nearest), int32 accumulation,
/// float output. The rest of the graph stays float.
/// </summary>
internal static class PlanQuantizer
{
    /// <summary>The rewritten plan, the int8 weights and scales to write, and the float weights they replace.</summary>
    public sealed record Result(PlanConfig Plan, List<(string Name, sbyte[] Data, int[] Dims)> Int8, List<(string Name, float[] Data, int[] Dims)> Float, HashSet<string> Replaced);

    public static Result Quantize(FloatEncoder enc, ActivationStatistics stats, PtqOptions options, Action<string> log)
    {
        var plan = enc.Plan!;
        var r = new Result(new PlanConfig(), [], [], new HashSet<string>(StringComparer.Ordinal));
        var stem = Rewrite("stem", plan.Stem, ActivationSite.StemOpInput, enc, stats, options, r, log);
        var head = Rewrite("head", plan.Head, ActivationSite.HeadOpInput, enc, stats, options, r, log);
        return r with { Plan = new PlanConfig { Stem = stem, Head = head } };
    }

    private static OpGraph Rewrite(string graph, OpGraph g, ActivationSite site, FloatEncoder enc, ActivationStatistics stats, PtqOptions options, Result r, Action<string> log)
    {
        var values = g.Values.Select(v => new GraphValue { Name = v.Name, Shape = v.Shape, Tensor = v.Tensor, Int8 = v.Int8 }).ToList();
        var ops = g.Ops.Select(o => new GraphOp { Op = o.Op, Node = o.Node, Inputs = o.Inputs, Output = o.Output, Ints = o.Ints, Floats = o.Floats }).ToArray();
        var uses = new int[values.Count];
        foreach (var op in g.Ops) foreach (int v in op.Inputs) uses[v]++;
        int done = 0;
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            bool conv = op.Op == OpKinds.Conv;
            if (!conv && op.Op != OpKinds.Linear || op.Inputs.Length < 2) continue;
            int wv = op.Inputs[1];
            var weight = values[wv];
            if (string.IsNullOrEmpty(weight.Tensor) || uses[wv] != 1) continue;
            if (conv && (op.Ints?.GetValueOrDefault("group") is { } grp && grp.Length == 1 && grp[0] != 1)) continue;
            int[] ws = weight.Shape, ys = values[op.Output].Shape;
            int channels = ws[0], fanIn = ws.Skip(1).Aggregate(1, (a, b) => a * b);
            long outputs = ys.Aggregate(1L, (a, b) => a * b) / channels; // rows (Linear) or output pixels (Conv)
            long macs = outputs * channels * fanIn;
            if (macs < options.PlanInt8MinMacs) continue;
            float clip = stats.ClipValue(site, i, options.Calibrator, options.Percentile);
            if (!(clip > 0)) continue; // never observed non-zero: nothing to scale by
            float[] w = enc.Get(weight.Tensor);
            var q = new sbyte[w.Length];
            var scales = new float[channels];
            for (int n = 0; n < channels; n++)
            {
                float amax = 0;
                for (int k = 0; k < fanIn; k++) amax = MathF.Max(amax, MathF.Abs(w[n * fanIn + k]));
                scales[n] = amax / 127f;
                if (amax > 0) for (int k = 0; k < fanIn; k++) q[n * fanIn + k] = WeightQuantizer.Nearest(w[n * fanIn + k], scales[n], 127);
            }
            r.Replaced.Add(weight.Tensor);
            string qName = weight.Tensor + ".q", sName = weight.Tensor + ".qs";
            r.Int8.Add((qName, q, ws));
            r.Float.Add((sName, scales, [channels]));
            values[wv] = new GraphValue { Name = weight.Name, Shape = ws, Tensor = qName, Int8 = true };
            values.Add(new GraphValue { Name = weight.Name + " scales", Shape = [channels], Tensor = sName });
            int[] ins = [op.Inputs[0], wv, values.Count - 1, .. op.Inputs.Skip(2)];
            ops[i] = new GraphOp
            {
                Op = conv ? OpKinds.ConvS8 : OpKinds.LinearS8, Node = op.Node, Inputs = ins, Output = op.Output, Ints = op.Ints,
                Floats = new Dictionary<string, float>(op.Floats ?? []) { ["inputScale"] = clip / 127f },
            };
            log($"  {graph} op {i} ({op.Op} '{op.Node}', {macs} MACs): int8, input clip {clip:G4}");
            done++;
        }
        if (done == 0 && g.Ops.Length > 0) log($"  {graph}: every Linear/Conv stays float (none reaches {options.PlanInt8MinMacs} MACs)");
        return new OpGraph { Values = [.. values], Ops = ops, Inputs = g.Inputs, Outputs = g.Outputs };
    }
}
