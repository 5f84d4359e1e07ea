namespace EdgeQuant.Format;

/// <summary>What is wrong with a model file.</summary>
public enum ModelFormatError
{
    /// <summary>The file does not start with the EdgeQuant magic.</summary>
    BadMagic,
    /// <summary>The format or quantization-scheme version is not one this build reads.</summary>
    UnsupportedVersion,
    /// <summary>The file is byte-swapped (written on a big-endian machine).</summary>
    WrongEndianness,
    /// <summary>The file is shorter than its header says.</summary>
    Truncated,
    /// <summary>A header field is inconsistent.</summary>
    BadHeader,
    /// <summary>An offset or size points outside the file.</summary>
    OutOfBounds,
    /// <summary>A tensor's data is not 64-byte aligned.</summary>
    Misaligned,
    /// <summary>A stored CRC-32 does not match the bytes.</summary>
    ChecksumMismatch,
    /// <summary>A tensor table entry is malformed.</summary>
    BadTensorEntry,
    /// <summary>The metadata JSON is malformed.</summary>
    BadMetadata,
    /// <summary>A tensor the model needs is missing or has the wrong dtype/shape.</summary>
    BadTensor,
    /// <summary>
    /// At run time: the model's float arithmetic produced NaN or ±∞ from a finite input. Only weights no trained model has
    /// do that (finite values near the float limit), which no load-time bound can rule out for general float graphs
    /// (attention masks legitimately hold −3.4e38), so the output is checked instead of returned as garbage.
    /// </summary>
    NonFiniteOutput,
}

/// <summary>A model file failed validation.</summary>
public sealed class ModelFormatException(ModelFormatError error, string message) : Exception(message)
{
    /// <summary>The class of the failure.</summary>
    public ModelFormatError Error { get; } = error;
}
