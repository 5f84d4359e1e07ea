using EdgeQuant.Converter.Data;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Format;

namespace EdgeQuant.Converter;

/// <summary>Everything one conversion needs: the source model, the output, precision and PTQ options, calibration data.</summary>
public sealed class ConvertRequest
{
    /// <summary>A PyTorch-exported .onnx file (image or text encoder); or set <see cref="HfDir"/>.</summary>
    public string? OnnxPath { get; init; }
    /// <summary>A Hugging Face model folder (config.json, safetensors, tokenizer files); or set <see cref="OnnxPath"/>.</summary>
    public string? HfDir { get; init; }
    /// <summary>The .eqm file to write.</summary>
    public required string OutputPath { get; init; }
    /// <summary><see cref="Schema.Precisions"/>: int8 (default) or fp32.</summary>
    public string Precision { get; init; } = Schema.Precisions.Int8;
    /// <summary>Static PTQ options (int8).</summary>
    public PtqOptions Ptq { get; init; } = new();
    /// <summary>Decoder LLMs with 4-bit weights (<see cref="PtqOptions.WeightBits"/> 4): K per scale group (32, 64, 128).</summary>
    public int GroupSize { get; init; } = 32;
    /// <summary>Class labels (empty: the model's own, or indices).</summary>
    public string[] Labels { get; init; } = [];

    /// <summary>Image models: pixel multiplier, per-channel mean and std of the ONNX input convention.</summary>
    public float PixelScale { get; init; } = 1f / 255f;
    /// <summary>Per-channel mean (null: 0).</summary>
    public float[]? Mean { get; init; }
    /// <summary>Per-channel std (null: 1).</summary>
    public float[]? Std { get; init; }
    /// <summary>Image calibration set (int8 image models; also used to verify the import on a real image).</summary>
    public ImageSet? CalibImages { get; init; }
    /// <summary>Seeded noise images instead of a set (smoke tests of models without data).</summary>
    public int CalibRandom { get; init; }

    /// <summary>Text models: head override (<see cref="Schema.TextHeads"/>), length cap, vocab.txt for ONNX BERTs.</summary>
    public string? Head { get; init; }
    /// <summary>Cap on the sequence length (0: the position table's size).</summary>
    public int MaxLength { get; init; }
    /// <summary>WordPiece vocab.txt for an ONNX BERT (null: next to the model if present).</summary>
    public string? VocabPath { get; init; }
    /// <summary>Calibration sentences (tokenized with the model's vocabulary).</summary>
    public IReadOnlyList<string>? CalibSentences { get; init; }
    /// <summary>Calibration token id sequences (models without a vocabulary).</summary>
    public IReadOnlyList<int[]>? CalibIds { get; init; }

    /// <summary>Experiments: plant BERT-style outlier channels (count, factor) before quantizing (see <see cref="SyntheticOutliers"/>).</summary>
    public (int Count, float Factor)? PlantOutliers { get; init; }
    /// <summary>Write an HTML quantization report here (int8).</summary>
    public string? ReportPath { get; init; }
    /// <summary>Progress and summary lines.</summary>
    public Action<string>? Log { get; init; }
}
