namespace EdgeQuant.Format;

/// <summary>
/// The plan of a model whose input side (stem) and output side (head) are general op graphs around the typed
/// encoder blocks: stem (inputs → token stream [T, D]) → blocks → head (stream → outputs). See docs/FORMAT.md.
/// </summary>
public sealed class PlanConfig
{
    /// <summary>Graph from the model input (value 0, the image [1, C, H, W]) to the token stream (its last output, [T, D] elements).</summary>
    public OpGraph Stem { get; set; } = new();
    /// <summary>Graph from the token stream after the last block (value 0, [T, D] elements) to the model output.</summary>
    public OpGraph Head { get; set; } = new();
}

/// <summary>
/// A small static-shape op graph: every value is float32 with a shape known at conversion, except the int8 weight
/// constants of <see cref="OpKinds.LinearS8"/> and <see cref="OpKinds.ConvS8"/> (<see cref="GraphValue.Int8"/>).
/// </summary>
public sealed class OpGraph
{
    /// <summary>Values: graph inputs, constants (stored as tensors) and op outputs.</summary>
    public GraphValue[] Values { get; set; } = [];
    /// <summary>Ops in execution order (each input is a graph input, a constant, or an earlier op's output).</summary>
    public GraphOp[] Ops { get; set; } = [];
    /// <summary>Indices of the graph's input values (set by the caller before <c>Run</c>).</summary>
    public int[] Inputs { get; set; } = [];
    /// <summary>Indices of the graph's output values.</summary>
    public int[] Outputs { get; set; } = [];
}

/// <summary>One value of an <see cref="OpGraph"/>.</summary>
public sealed class GraphValue
{
    /// <summary>Name in the source graph (for messages and the profile).</summary>
    public string Name { get; set; } = "";
    /// <summary>Static shape (rank 0..6; a scalar has rank 0).</summary>
    public int[] Shape { get; set; } = [];
    /// <summary>Name of the F32 tensor holding a constant value; empty for computed values.</summary>
    public string Tensor { get; set; } = "";
    /// <summary>The constant is an S8 tensor: the weight of a <see cref="OpKinds.LinearS8"/> or <see cref="OpKinds.ConvS8"/>, and only that.</summary>
    public bool Int8 { get; set; }
}

/// <summary>One op of an <see cref="OpGraph"/>; attributes as the ONNX op defines them, already normalized (non-negative axes).</summary>
public sealed class GraphOp
{
    /// <summary>Op kind: one of <see cref="OpKinds.All"/>.</summary>
    public string Op { get; set; } = "";
    /// <summary>Source node name (errors, profile).</summary>
    public string Node { get; set; } = "";
    /// <summary>Input value indices.</summary>
    public int[] Inputs { get; set; } = [];
    /// <summary>Output value index.</summary>
    public int Output { get; set; }
    /// <summary>Integer attributes: axes, perm, starts, steps, pads, strides, dilations, group, axis, keepdims, ...</summary>
    public Dictionary<string, long[]>? Ints { get; set; }
    /// <summary>Float attributes: epsilon, min, max, alpha.</summary>
    public Dictionary<string, float>? Floats { get; set; }
}

/// <summary>The op kinds a plan graph may hold (the schema; the engine has one step per kind).</summary>
public static class OpKinds
{
    /// <summary>Copy with a new shape: Reshape, Flatten, Squeeze, Unsqueeze, Identity (the shape is the output value's).</summary>
    public const string Copy = "Copy";
    /// <summary>y [.., N] = x [.., K] · Wᵀ (+ b): MatMul/Gemm with a constant weight, stored [N, K] (inputs x, W[, b]).</summary>
    public const string Linear = "Linear";
    /// <summary>Batched product of two computed values (ONNX MatMul semantics, broadcast batch dims).</summary>
    public const string MatMul = "MatMul";
    /// <summary>2-D convolution, NCHW (inputs x, W [M, C/group, kh, kw][, b]); ints: strides, pads, dilations, group.</summary>
    public const string Conv = "Conv";
    /// <summary>
    /// Int8 <see cref="Linear"/>: y = (q(x) · Wqᵀ) · inputScale · wScale[n] (+ b), q(x) = clamp(round-half-even(x / inputScale), ±127),
    /// int32 accumulation (inputs x, Wq [N, K] int8, wScale [N][, b]); floats inputScale.
    /// </summary>
    public const string LinearS8 = "LinearS8";
    /// <summary>Int8 <see cref="Conv"/> of one group (inputs x, Wq [M, C, kh, kw] int8, wScale [M][, b]); ints as Conv; floats inputScale.</summary>
    public const string ConvS8 = "ConvS8";
    /// <summary>Elementwise binary ops with numpy broadcasting.</summary>
    public const string Add = "Add", Sub = "Sub", Mul = "Mul", Div = "Div", Pow = "Pow", Equal = "Equal", Max = "Max", Min = "Min";
    /// <summary>Where(cond, a, b) with broadcasting.</summary>
    public const string Where = "Where";
    /// <summary>Elementwise unary ops; Clip takes floats min/max; Cast takes ints to (ONNX dtype: 9 bool, 6/7 int truncates).</summary>
    public const string Sqrt = "Sqrt", Erf = "Erf", Tanh = "Tanh", Sigmoid = "Sigmoid", Relu = "Relu", Neg = "Neg", Gelu = "Gelu",
        Clip = "Clip", Cast = "Cast", Abs = "Abs", Exp = "Exp", Reciprocal = "Reciprocal";
    /// <summary>Layout ops: Transpose (perm), Concat (axis), Slice (starts, steps per output axis), Gather (axis; indices are a value), Expand.</summary>
    public const string Transpose = "Transpose", Concat = "Concat", Slice = "Slice", Gather = "Gather", Expand = "Expand";
    /// <summary>Reductions over ints axes (keepdims is implied by the output shape).</summary>
    public const string ReduceMean = "ReduceMean", ReduceSum = "ReduceSum", ReduceMax = "ReduceMax", ReduceL2 = "ReduceL2";
    /// <summary>LayerNormalization over the trailing axes from ints axis (inputs x, scale[, bias]); floats epsilon.</summary>
    public const string LayerNorm = "LayerNormalization";
    /// <summary>Softmax over ints axis.</summary>
    public const string Softmax = "Softmax";

    /// <summary>Every kind, for validation and messages.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        Copy, Linear, MatMul, Conv, LinearS8, ConvS8, Add, Sub, Mul, Div, Pow, Equal, Max, Min, Where, Sqrt, Erf, Tanh, Sigmoid, Relu, Neg, Gelu, Clip, Cast,
        Abs, Exp, Reciprocal, Transpose, Concat, Slice, Gather, Expand, ReduceMean, ReduceSum, ReduceMax, ReduceL2, LayerNorm, Softmax,
    ];
}
