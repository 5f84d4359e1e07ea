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
    public readonly float*[] Constants;// per value: mapped tensor, or null for computed values and int8 constants
    public readonly sbyte*[] ConstantsS8; // per value: mapped S8 tensor of an int8 weight, else null
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
        ConstantsS8 = new sbyte*[n];
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
            if (gv.Int8)
            {
                if (string.IsNullOrEmpty(gv.Tensor) || shape.Length == 0) Fail($"value {v} '{gv.Name}' is int8 but not a constant tensor");
                ConstantsS8[v] = (sbyte*)f.Pointer(f.Require(gv.Tensor, TensorDType.S8, shape));
                defined[v] = true;
            }
            else if (!string.IsNullOrEmpty(gv.Tensor))
            {
                Constants[v] = FiniteF32.Require(f, gv.Tensor, shape.Length == 0 ? [1] : shape); // scalars are stored as [1]
                defined[v] = true;
            }
        }
        long computed = 0;
        for (int v = 0; v < n; v++) if (!IsConstant(v)) computed += Sizes[v];
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
            for (int k = 0; k < ins.Length; k++)
            {
                int v = ins[k];
                if ((uint)v >= (uint)n || !defined[v]) throw new ModelFormatException(ModelFormatError.BadMetadata, $"{where}: input value {v} is not defined before the op");
                // An int8 constant is only ever the weight of an int8 op: every other step reads its inputs as float.
                if (ConstantsS8[v] != null != (k == 1 && op.Op is OpKinds.LinearS8 or OpKinds.ConvS8))
                    throw new ModelFormatException(ModelFormatError.BadMetadata, $"{where}: input {k} (value {v}) {(ConstantsS8[v] != null ? "is an int8 constant, which only the weight of LinearS8/ConvS8 may be" : "must be an int8 constant weight")}");
            }
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
    public bool IsConstant(int v) => Constants[v] != null || ConstantsS8[v] != null;

    /// <summary>Largest int8 and int32 scratch any step needs (one region each per session: steps run one at a time).</summary>
    public (int S8, int I32) Scratch
    {
        get
        {
            int s8 = 0, i32 = 0;
            foreach (var st in Steps) (s8, i32) = (Math.Max(s8, st.ScratchS8), Math.Max(i32, st.ScratchI32));
            return (s8, i32);
        }
    }

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

    private readonly Region _s8, _i32;
    private readonly IActivationObserver? _observer;
    private readonly ActivationSite _site;

    /// <summary>
    /// Plans one region per computed value in <paramref name="plan"/>, then the int8 and int32 scratch of the int8
    /// steps (the arena is created from the whole plan later).
    /// </summary>
    public static FrameRegions PlanRegions(GraphProgram p, ArenaPlan plan)
    {
        var r = new Region[p.Sizes.Length];
        for (int v = 0; v < r.Length; v++)
            if (!p.IsConstant(v)) r[v] = plan.Add<float>(p.Sizes[v]);
        var (s8, i32) = p.Scratch;
        return new FrameRegions(r, plan.Add<sbyte>(s8), plan.Add<int>(i32));
    }

    /// <summary>A frame over <paramref name="regions"/> (from <see cref="PlanRegions"/>); with an observer, the inputs of Linear and Conv ops are reported at <paramref name="site"/> (calibration of their int8 forms).</summary>
    public GraphFrame(GraphProgram p, FrameRegions regions, Arena arena, KernelSet kernels, IActivationObserver? observer = null, ActivationSite site = ActivationSite.StemOpInput)
    {
        _p = p;
        (_regions, _s8, _i32) = (regions.Values, regions.S8, regions.I32);
        _arena = arena;
        Kernels = kernels;
        (_observer, _site) = (observer, site);
    }

    /// <summary>The int8 scratch of the running step.</summary>
    public Span<sbyte> ScratchS8 => _arena.Get<sbyte>(_s8);

    /// <summary>The int32 scratch of the running step.</summary>
    public Span<int> ScratchI32 => _arena.Get<int>(_i32);

    /// <summary>The int8 constant <paramref name="v"/> (an int8 op's weight).</summary>
    public ReadOnlySpan<sbyte> InS8(int v) => new(_p.ConstantsS8[v], _p.Sizes[v]);

    public GraphProgram Program => _p;

    /// <summary>Value <paramref name="v"/> for reading (a constant in the file, or an arena region).</summary>
    public ReadOnlySpan<float> In(int v) => _p.Constants[v] != null ? new ReadOnlySpan<float>(_p.Constants[v], _p.Sizes[v]) : _arena.Get<float>(_regions[v]);

    /// <summary>Value <paramref name="v"/> for writing.</summary>
    public Span<float> Out(int v) => _arena.Get<float>(_regions[v]);

    /// <summary>Runs every step in order.</summary>
    public void Run()
    {
        var steps = _p.Steps;
        for (int i = 0; i < steps.Length; i++) RunStep(i);
    }

    /// <summary>Runs step <paramref name="i"/> (the profiler times steps one by one).</summary>
    public void RunStep(int i)
    {
        var step = _p.Steps[i];
        if (_observer != null && step.Op is OpKinds.Linear or OpKinds.Conv) _observer.Observe(_site, i, In(step.Input0));
        step.Run(this);
    }
}

/// <summary>A frame's arena regions: one per computed value (default for constants), and the int8 / int32 scratch of the int8 steps.</summary>
internal sealed record FrameRegions(Region[] Values, Region S8, Region I32);
