using EdgeQuant.Format;

namespace EdgeQuant.Engine.Graph;

/// <summary>
/// One prepared op of a <see cref="GraphProgram"/>: shapes checked and index arithmetic precomputed at load, so
/// <see cref="Run"/> only loops. Float arithmetic in a fixed order (no FMA, no ISA-dependent reductions): a plan
/// graph gives the same bits on every kernel path, which keeps int8 models bit-identical across ISAs.
/// </summary>
internal abstract class GraphStep
{
    /// <summary>Op kind (profile, messages).</summary>
    public string Op { get; private set; } = "";
    /// <summary>Source node (profile, messages).</summary>
    public string Node { get; private set; } = "";
    /// <summary>Output value.</summary>
    public int Output { get; private set; }
    /// <summary>First input value (what calibration observes of Linear and Conv).</summary>
    public int Input0 { get; private set; }
    /// <summary>Int8 scratch elements the step needs while it runs.</summary>
    public virtual int ScratchS8 => 0;
    /// <summary>Int32 scratch elements the step needs while it runs.</summary>
    public virtual int ScratchI32 => 0;

    /// <summary>Runs the op on the frame's values.</summary>
    public abstract void Run(GraphFrame f);

    /// <summary>Validates <paramref name="op"/> against the value shapes of <paramref name="p"/> and prepares it.</summary>
    public static GraphStep Create(GraphOp op, GraphProgram p, int[] ins)
    {
        var a = new OpArgs(op, p, ins);
        GraphStep s = op.Op switch
        {
            OpKinds.Copy => new CopyStep(a),
            OpKinds.Linear => new LinearStep(a),
            OpKinds.MatMul => new MatMulStep(a),
            OpKinds.Conv => new ConvStep(a),
            OpKinds.LinearS8 => new LinearS8Step(a),
            OpKinds.ConvS8 => new ConvS8Step(a),
            OpKinds.Add => new BinaryStep<AddOp>(a),
            OpKinds.Sub => new BinaryStep<SubOp>(a),
            OpKinds.Mul => new BinaryStep<MulOp>(a),
            OpKinds.Div => new BinaryStep<DivOp>(a),
            OpKinds.Pow => new BinaryStep<PowOp>(a),
            OpKinds.Equal => new BinaryStep<EqualOp>(a),
            OpKinds.Max => new BinaryStep<MaxOp>(a),
            OpKinds.Min => new BinaryStep<MinOp>(a),
            OpKinds.Where => new WhereStep(a),
            OpKinds.Sqrt => new UnaryStep<SqrtOp>(a),
            OpKinds.Erf => new UnaryStep<ErfOp>(a),
            OpKinds.Tanh => new UnaryStep<TanhOp>(a),
            OpKinds.Sigmoid => new UnaryStep<SigmoidOp>(a),
            OpKinds.Relu => new UnaryStep<ReluOp>(a),
            OpKinds.Neg => new UnaryStep<NegOp>(a),
            OpKinds.Gelu => new UnaryStep<GeluOp>(a),
            OpKinds.Abs => new UnaryStep<AbsOp>(a),
            OpKinds.Exp => new UnaryStep<ExpOp>(a),
            OpKinds.Reciprocal => new UnaryStep<ReciprocalOp>(a),
            OpKinds.Clip => new UnaryStep<ClipOp>(a),
            OpKinds.Cast => new UnaryStep<CastOp>(a),
            OpKinds.Transpose => StridedCopyStep.Transpose(a),
            OpKinds.Expand => StridedCopyStep.Expand(a),
            OpKinds.Slice => StridedCopyStep.Slice(a),
            OpKinds.Concat => new ConcatStep(a),
            OpKinds.Gather => new GatherStep(a),
            OpKinds.ReduceMean or OpKinds.ReduceSum or OpKinds.ReduceMax or OpKinds.ReduceL2 => new ReduceStep(a),
            OpKinds.LayerNorm => new LayerNormStep(a),
            OpKinds.Softmax => new SoftmaxStep(a),
            _ => throw new GraphValidationException($"unknown op kind; supported: {string.Join(", ", OpKinds.All)}"),
        };
        s.Op = op.Op;
        s.Node = op.Node ?? "";
        s.Output = op.Output;
        s.Input0 = ins.Length > 0 ? ins[0] : -1;
        return s;
    }

    /// <summary>Contiguous strides of <paramref name="shape"/>.</summary>
    protected static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    protected static int Product(ReadOnlySpan<int> dims)
    {
        int n = 1;
        foreach (int d in dims) n *= d;
        return n;
    }
}

/// <summary>An op's inputs and attributes with the checks every step needs.</summary>
internal readonly struct OpArgs(GraphOp op, GraphProgram p, int[] ins)
{
    public readonly GraphOp Op = op;
    public readonly GraphProgram P = p;
    public readonly int[] Ins = ins;

    public int Count => Ins.Length;
    public int Out => Op.Output;
    public int[] OutShape => P.Shapes[Op.Output];
    public int[] Shape(int i) => P.Shapes[Ins[i]];
    public int Size(int i) => P.Sizes[Ins[i]];

    public void NeedInputs(int min, int max)
    {
        if (Ins.Length < min || Ins.Length > max)
            throw new GraphValidationException(min == max ? $"takes {min} input(s), has {Ins.Length}" : $"takes {min} to {max} inputs, has {Ins.Length}");
    }

    public void NeedConstant(int i, string what)
    {
        if (!P.IsConstant(Ins[i])) throw new GraphValidationException($"{what} must be a constant tensor");
    }

    public long[] Ints(string name, int? length = null)
    {
        if (Op.Ints == null || !Op.Ints.TryGetValue(name, out var v) || v == null) throw new GraphValidationException($"attribute '{name}' is missing");
        if (length is int n && v.Length != n) throw new GraphValidationException($"attribute '{name}' has {v.Length} values, expected {n}");
        return v;
    }

    public long Int(string name, long dflt) => Op.Ints != null && Op.Ints.TryGetValue(name, out var v) && v is { Length: 1 } ? v[0] : dflt;

    /// <summary>An axis attribute in [0, rank).</summary>
    public int Axis(string name, int rank)
    {
        long a = Ints(name, 1)[0];
        if (a < 0 || a >= rank) throw new GraphValidationException($"attribute '{name}' = {a} is outside [0, {rank})");
        return (int)a;
    }

    public float Float(string name, float dflt)
    {
        float v = Op.Floats != null && Op.Floats.TryGetValue(name, out var f) ? f : dflt;
        if (float.IsNaN(v)) throw new GraphValidationException($"attribute '{name}' is NaN");
        return v;
    }

    public static string Text(int[] shape) => "[" + string.Join(", ", shape) + "]";
}
