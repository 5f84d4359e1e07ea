using EdgeQuant.Format;

namespace EdgeQuant.Converter.Decoder;

/// <summary>
/// An imported decoder language model in float: its <see cref="DecoderConfig"/> and named FP32 tensors in the engine's
/// naming (<see cref="DecoderTensors"/>) and layout (linear weights [out, in]). Written as an FP32 file or quantized.
/// </summary>
public sealed class FloatDecoder
{
    /// <summary>Hyper-parameters (its <see cref="DecoderConfig.Quant"/> is null: the weights here are float).</summary>
    public required DecoderConfig Config { get; init; }
    /// <summary>Where the model came from.</summary>
    public string Source { get; init; } = "";
    /// <summary>Named tensors: data and dims, in insertion order (the file's order).</summary>
    public Dictionary<string, (float[] Data, int[] Dims)> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Adds a tensor after checking its element count.</summary>
    public void Add(string name, float[] data, params int[] dims)
    {
        long n = 1;
        foreach (int d in dims) n *= d;
        if (n != data.Length) throw new ArgumentException($"tensor '{name}': {data.Length} values for dims [{string.Join(", ", dims)}]");
        Tensors.Add(name, (data, dims));
    }

    /// <summary>The linears of the blocks and the LM head, as (tensor prefix, out, in): what quantization acts on.</summary>
    public IEnumerable<(string Prefix, int Out, int In)> Linears()
    {
        var c = Config;
        int qd = c.Heads * c.HeadDim, kvd = c.KvHeads * c.HeadDim;
        for (int i = 0; i < c.Layers; i++)
        {
            string p = DecoderTensors.Block(i);
            yield return (p + DecoderTensors.Q, qd, c.Hidden);
            yield return (p + DecoderTensors.K, kvd, c.Hidden);
            yield return (p + DecoderTensors.V, kvd, c.Hidden);
            yield return (p + DecoderTensors.O, c.Hidden, qd);
            if (c.GatedMlp) yield return (p + DecoderTensors.Gate, c.MlpDim, c.Hidden);
            yield return (p + DecoderTensors.Up, c.MlpDim, c.Hidden);
            yield return (p + DecoderTensors.Down, c.Hidden, c.MlpDim);
        }
        if (!c.TiedEmbeddings) yield return (DecoderTensors.LmHead, c.VocabSize, c.Hidden);
    }

    /// <summary>Metadata of the written file.</summary>
    public ModelMetadata Metadata(DecoderQuantConfig? quant)
    {
        var c = Config;
        var copy = new DecoderConfig
        {
            ModelType = c.ModelType, VocabSize = c.VocabSize, Hidden = c.Hidden, Layers = c.Layers, Heads = c.Heads, KvHeads = c.KvHeads,
            HeadDim = c.HeadDim, MlpDim = c.MlpDim, MaxPositions = c.MaxPositions, Norm = c.Norm, NormEps = c.NormEps,
            Activation = c.Activation, GatedMlp = c.GatedMlp, Positions = c.Positions, QkvBias = c.QkvBias, OutBias = c.OutBias,
            MlpBias = c.MlpBias, TiedEmbeddings = c.TiedEmbeddings, BosId = c.BosId, EosIds = c.EosIds, Quant = quant,
        };
        return new ModelMetadata
        {
            Architecture = Schema.Architectures.Decoder,
            Precision = quant == null ? Schema.Precisions.Fp32 : Schema.Precisions.Int8,
            Decoder = copy,
            Source = Source,
            Converter = FloatEncoder.ConverterVersion,
        };
    }

    /// <summary>Builds the FP32 model file.</summary>
    public ModelWriter ToFp32Writer()
    {
        var w = new ModelWriter { Metadata = Metadata(null) };
        foreach (var (name, (data, dims)) in Tensors) w.Add<float>(name, TensorDType.F32, data, dims);
        return w;
    }
}
