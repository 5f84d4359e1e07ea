using EdgeQuant.Kernels;

namespace EdgeQuant.Engine;

/// <summary>Options of a <see cref="Session"/>.</summary>
public sealed class SessionOptions
{
    /// <summary>Kernel path; null = <see cref="KernelTable.Default"/>.</summary>
    public KernelSet? Kernels { get; set; }

    /// <summary>Threads of this session (its own pool; workers are parked between runs). Default 1.</summary>
    public int Threads { get; set; } = 1;

    /// <summary>
    /// A step (GEMM, attention, row epilogue) with less work than this many MACs (row elements count 16) runs on the
    /// calling thread: a dispatch to the pool costs a few µs, more than a small step gains. Default
    /// <see cref="DefaultMinParallelMacs"/>; 0 splits every step (tests use it to check that splits keep the bits).
    /// </summary>
    public long MinParallelMacs { get; set; } = DefaultMinParallelMacs;

    /// <summary>The default of <see cref="MinParallelMacs"/>, 2^18: below it a 2-thread split measured slower than one thread.</summary>
    public const long DefaultMinParallelMacs = 1 << 18;

    /// <summary>Text embedding models: L2-normalize the pooled embedding (as sentence-transformers' Normalize layer). Default false.</summary>
    public bool NormalizeEmbeddings { get; set; }

    /// <summary>Record the wall time of every step (<see cref="Session.Profile"/>); costs two timestamps per step.</summary>
    public bool Profile { get; set; }

    /// <summary>Receives float activations at the quantization points (FP32 models only; used by calibration). Slows Run down.</summary>
    public IActivationObserver? Observer { get; set; }
}

/// <summary>Where in the encoder an activation is observed.</summary>
public enum ActivationSite
{
    /// <summary>Flattened image patches entering the patch embedding [patches, C·p·p].</summary>
    PatchInput,
    /// <summary>Input of the QKV projection [T, D] (LN1 output in pre-LN blocks).</summary>
    AttnInput,
    /// <summary>Queries [T, D].</summary>
    Query,
    /// <summary>Keys [T, D].</summary>
    Key,
    /// <summary>Values [T, D].</summary>
    Value,
    /// <summary>Attention context, input of the output projection [T, D].</summary>
    Context,
    /// <summary>Input of the first MLP linear [T, D].</summary>
    MlpInput,
    /// <summary>First MLP linear output before the activation [T, F].</summary>
    MlpPreActivation,
    /// <summary>Activation output, input of the second MLP linear [T, F].</summary>
    MlpActivation,
    /// <summary>Pooled vector entering the head [D] (ViT).</summary>
    HeadInput,
    /// <summary>The residual stream [T, D] after the embedding and after every residual add (the integer-only profile's int32 range).</summary>
    Residual,
    /// <summary>Input x of a Linear or Conv op of a plan's stem graph; the layer argument is the op's index in the graph.</summary>
    StemOpInput,
    /// <summary>Input x of a Linear or Conv op of a plan's head graph; the layer argument is the op's index in the graph.</summary>
    HeadOpInput,
}

/// <summary>Observer of float activations (calibration).</summary>
public interface IActivationObserver
{
    /// <summary>Called with the values at <paramref name="site"/> of block <paramref name="layer"/> (−1 outside blocks).</summary>
    void Observe(ActivationSite site, int layer, ReadOnlySpan<float> values);
}
