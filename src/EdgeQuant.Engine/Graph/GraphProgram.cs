using EdgeQuant.Format;
using EdgeQuant.Kernels;

namespace EdgeQuant.Engine.Graph;

/// <summary>
/// An <see cref="OpGraph"/> of a model file, validated and prepared once at load: value shapes, constant tensors
/// resolved to the mapped file, one <see cref="GraphStep"/> per op. Immutable and shared by every session; each
/// session runs it through its own <see cref="GraphFrame"/> (arena regions), so running allocates nothing.
/// </summary>
internal sealed unsafe class GraphProgram
{
    /// <summary>Largest element count of one value (keeps every index product far inside int).</summary>
    public const int MaxValueElements = 1 << 26;
    /// <summary>Largest total of computed values' elements (the arena a session plans for the graph: 1 GiB of floats).</summary>
    public const long MaxArenaElements = 1L << 28;
    /// <summary>Largest rank of a value.</summary>
    public const int MaxRank = 6;

    public readonly string Name;
    public readonly int[][] Shapes;    // per value
    public readonly int[] Sizes;       // per value: elements
    public readonly float*[] Constants;// per value: mapped tensor, or null for computed values
    public readonly GraphStep[] Steps;
    public readonly int[] Inputs, Outputs;

    private GraphProgram(string name, OpGraph g, ModelFile f)
    {
        Name = name;
        int n = g.Values.Length;
        if (n == 0 || n > 100_000 || g.Ops.Length > 100_000) Fail($"has {n} values and {g.Ops.Length} ops");
        Shapes = new int[n][];
        Sizes = new int[n];
        Constants = new float*[n];
        var defined = new bool[n];
        for (int v = 0; v < n; v++)
        {
            var gv = g.Values[v] ?? throw Error($"value {v} is null");
            int[] shape = gv.Shape ?? [];
            if (shape.Length > MaxRank) Fail($"value {v} '{gv.Name}' has rank {shape.Length} (at most {MaxRank})");
            long count = 1;
            foreach (int d in shape)
            {
                if (d < 1) Fail($"value {v} '{gv.Name}' has dimension {d}");
                count *= d;
                if (count > MaxValueElements) Fail($"value {v} '{gv.Name}' has more than {MaxValueElements} elements");
            }
            Shapes[v] = shape;
            Sizes[v] = (int)count;
            if (!string.IsNullOrEmpty(gv.Tensor))
            {
                Constants[v] = FiniteF32.Require(f, gv.Tensor, shape.Length == 0 ? [1] : shape); // scalars are stored as [1]
                defined[v] = true;
            }
        }
        long computed = 0;
        for (int v = 0; v < n; v++) if (Constants[v] == null) computed += Sizes[v];
        if (computed > MaxArenaElements) Fail($"needs {computed} float elements of working memory (at most {MaxArenaElements})");
        Inputs = CheckIndices(g.Inputs, n, "input");
        Outputs = CheckIndices(g.Outputs, n, "output");
        if (Outputs.Length == 0) Fail("has no output");
        foreach (int v in Inputs)
        {
            if (defined[v]) Fail($"input value {v} is also a constant or listed twice");
            defined[v] = true;
        }
        Steps = new GraphStep[g.Ops.Length];
        for (int i = 0; i < g.Ops.Length; i++)
        {
            var op = g.Ops[i] ?? throw Error($"op {i} is null");
            string where = $"{name} op {i} (node '{op.Node}', {op.Op})";
            int[] ins = op.Inputs ?? [];
            foreach (int v in ins)
                if ((uint)v >= (uint)n || !defined[v]) throw new ModelFormatException(ModelFormatError.BadMetadata, $"{where}: input value {v} is not defined before the op");
            if ((uint)op.Output >= (uint)n || defined[op.Output]) throw new ModelFormatException(ModelFormatError.BadMetadata, $"{where}: output value {op.Output} is out of range or already defined");
            try { Steps[i] = GraphStep.Create(op, this, ins); }
            catch (GraphValidationException e) { throw new ModelFormatException(ModelFormatError.BadMetadata, $"{where}: {e.Message}"); }
            defined[op.Output] = true;
        }
        foreach (int v in Outputs)
            if (!defined[v]) Fail($"output value {v} is never computed");
    }

    /// <summary>Validates and prepares <paramref name="g"/> (<paramref name="name"/>: "stem" or "head", for messages).</summary>
    public static GraphProgram Build(string name, OpGraph g, ModelFile f) => new(name, g, f);

    /// <summary>True when value <paramref name="v"/> is a constant tensor.</summary>
    public bool IsConstant(int v) => Constants[v] != null;

    /// <summary>Elements of the first output.</summary>
    public int OutputSize => Sizes[Outputs[0]];

    private int[] CheckIndices(int[]? list, int n, string what)
    {
        list ??= [];
        foreach (int v in list)
            if ((uint)v >= (uint)n) Fail($"{what} value {v} is out of range");
        return list;
    }

    private void Fail(string msg) => throw Error(msg);
    private ModelFormatException Error(string msg) => new(ModelFormatError.BadMetadata, $"plan {Name} graph {msg}");
}

/// <summary>Thrown by step constructors on an op whose attributes or shapes do not agree; reported with the op's name.</summary>
internal sealed class GraphValidationException(string message) : Exception(message);

/// <summary>One session's memory for a <see cref="GraphProgram"/>: a region of the session arena per computed value.</summary>
internal sealed unsafe class GraphFrame
{
    private readonly GraphProgram _p;
    private readonly Arena _arena;
    private readonly Region[] _regions; // per value; default for constants
    public readonly KernelSet Kernels;

    /// <summary>Plans one region per computed value in <paramref name="plan"/> (the arena is created from the whole plan later).</summary>
    public static Region[] PlanRegions(GraphProgram p, ArenaPlan plan)
    {
        var r = new Region[p.Sizes.Length];
        for (int v = 0; v < r.Length; v++)
            if (!p.IsConstant(v)) r[v] = plan.Add<float>(p.Sizes[v]);
        return r;
    }

    public GraphFrame(GraphProgram p, Region[] regions, Arena arena, KernelSet kernels)
    {
        _p = p;
        _regions = regions;
        _arena = arena;
        Kernels = kernels;
    }

    public GraphProgram Program => _p;

    /// <summary>Value <paramref name="v"/> for reading (a constant in the file, or an arena region).</summary>
    public ReadOnlySpan<float> In(int v) => _p.Constants[v] != null ? new ReadOnlySpan<float>(_p.Constants[v], _p.Sizes[v]) : _arena.Get<float>(_regions[v]);

    /// <summary>Value <paramref name="v"/> for writing.</summary>
    public Span<float> Out(int v) => _arena.Get<float>(_regions[v]);

    /// <summary>Runs every step in order.</summary>
    public void Run()
    {
        var steps = _p.Steps;
        for (int i = 0; i < steps.Length; i++) steps[i].Run(this);
    }

    /// <summary>Runs step <paramref name="i"/> (the profiler times steps one by one).</summary>
    public void RunStep(int i) => _p.Steps[i].Run(this);
}
