using EdgeQuant.Format;

namespace EdgeQuant.Converter;

/// <summary>
/// The imported encoder in float: hyper-parameters and named FP32 tensors in the engine's naming and layout
/// (linear weights [out, in]). Written as an FP32 model file, or quantized into an INT8 one.
/// </summary>
public sealed class FloatEncoder
{
    /// <summary>Encoder hyper-parameters.</summary>
    public EncoderConfig Config { get; init; } = new();
    /// <summary>Image input description (vision encoders).</summary>
    public ImageConfig? Image { get; init; }
    /// <summary>Text input description (BERT-family encoders).</summary>
    public TextConfig? Text { get; init; }
    /// <summary>WordPiece vocabulary, UTF-8, one token per line (text encoders with a tokenizer).</summary>
    public byte[]? Vocab { get; set; }
    /// <summary>Stem and head op graphs (models imported as a plan; their constants are tensors "plan.*"); null = the template.</summary>
    public PlanConfig? Plan { get; set; }
    /// <summary>Class labels (may be empty).</summary>
    public string[] Labels { get; set; } = [];
    /// <summary>Source description.</summary>
    public string Source { get; init; } = "";
    /// <summary>Named tensors: data and dims.</summary>
    public Dictionary<string, (float[] Data, int[] Dims)> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Version string written into converted files.</summary>
    public const string ConverterVersion = "edgequant-converter 0.1";

    /// <summary>Adds a tensor after checking its element count.</summary>
    public void Add(string name, float[] data, params int[] dims)
    {
        long n = 1;
        foreach (int d in dims) n *= d;
        if (n != data.Length) throw new ArgumentException($"tensor '{name}': {data.Length} values for dims [{string.Join(", ", dims)}]");
        Tensors[name] = (data, dims);
    }

    /// <summary>Labels "0", "1", … for a model whose source names no classes.</summary>
    public static string[] IndexLabels(int count) =>
        Enumerable.Range(0, count).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>A copy sharing every tensor except <paramref name="replaced"/> (same dims), e.g. weights already rounded.</summary>
    public FloatEncoder With(IReadOnlyDictionary<string, float[]> replaced)
    {
        var e = new FloatEncoder { Config = Config, Image = Image, Text = Text, Plan = Plan, Vocab = Vocab, Labels = Labels, Source = Source };
        foreach (var (name, (data, dims)) in Tensors) e.Tensors[name] = (replaced.TryGetValue(name, out var r) ? r : data, dims);
        return e;
    }

    /// <summary>Data of a tensor.</summary>
    public float[] Get(string name) => Tensors[name].Data;

    /// <summary>Metadata shared by the FP32 and INT8 files.</summary>
    public ModelMetadata Metadata(string precision, QuantConfig? quant) => new()
    {
        Architecture = Text != null ? Schema.Architectures.Bert : Schema.Architectures.Vit,
        Precision = precision,
        Encoder = Config,
        Image = Image,
        Text = Text,
        Plan = Plan,
        Labels = Labels,
        Quant = quant,
        Source = Source,
        Converter = ConverterVersion,
    };

    /// <summary>Builds the FP32 model file.</summary>
    public ModelWriter ToFp32Writer()
    {
        var w = new ModelWriter { Metadata = Metadata(Schema.Precisions.Fp32, null) };
        foreach (var (name, (data, dims)) in Tensors) w.Add<float>(name, TensorDType.F32, data, dims);
        AddVocab(w);
        return w;
    }

    /// <summary>
    /// The stored WordPiece vocabulary must hold at least two tokens, no more than the embedding table's rows, and the
    /// special tokens the tokenizer needs; returns the token count.
    /// </summary>
    /// <exception cref="InvalidDataException">The vocabulary cannot serve this model.</exception>
    public int CheckVocab()
    {
        if (Vocab == null || Text == null) return 0;
        int lines = System.Text.Encoding.UTF8.GetString(Vocab).TrimEnd('\n', '\r').Split('\n').Length;
        if (Vocab.Length == 0 || lines < 2) throw new InvalidDataException($"the vocabulary has {(Vocab.Length == 0 ? 0 : lines)} token(s); a WordPiece vocabulary needs its special tokens and words");
        if (lines > Text.VocabSize) throw new InvalidDataException($"the vocabulary has {lines} tokens, the embedding table only {Text.VocabSize} rows");
        try { Engine.Model.CreateTokenizer(Text, Vocab); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException or KeyNotFoundException) { throw new InvalidDataException($"the vocabulary cannot be used: {e.Message}"); }
        return lines;
    }

    /// <summary>Writes the vocabulary tensor "tokenizer.vocab" (u8 [bytes]) when there is one.</summary>
    public void AddVocab(ModelWriter w)
    {
        if (Vocab is { Length: > 0 } v) w.Add<byte>("tokenizer.vocab", TensorDType.U8, v, v.Length);
    }
}
