using System.Text;

namespace EdgeQuant.Format;

/// <summary>Human-readable listing of a plan (converter log, <c>edgequant info</c>).</summary>
public static class PlanText
{
    /// <summary>One line per op of the stem and head graphs: "stem  3  Linear  node  [1, 16, 49] -> [1, 16, 64]".</summary>
    public static string Describe(PlanConfig plan)
    {
        var sb = new StringBuilder();
        Append(sb, "stem", plan.Stem);
        sb.Append("blocks  (typed encoder blocks)\n");
        Append(sb, "head", plan.Head);
        return sb.ToString().TrimEnd('\n');
    }

    private static void Append(StringBuilder sb, string name, OpGraph g)
    {
        static string Shape(int[] s) => "[" + string.Join(", ", s) + "]";
        for (int i = 0; i < g.Ops.Length; i++)
        {
            var op = g.Ops[i];
            string ins = string.Join(", ", op.Inputs.Select(v => v >= 0 && v < g.Values.Length && g.Values[v].Tensor.Length == 0 ? Shape(g.Values[v].Shape) : "const"));
            string outShape = op.Output >= 0 && op.Output < g.Values.Length ? Shape(g.Values[op.Output].Shape) : "?";
            sb.Append($"{name,-5} {i,3}  {op.Op,-18} {op.Node,-36} {ins} -> {outShape}\n");
        }
    }
}
