namespace EdgeQuant.Converter.Data;

/// <summary>
/// Reads input files for conversion with the checks a hostile path needs before any allocation: the path must name a
/// regular file (after following links; devices such as /dev/zero and pipes are refused, so nothing hangs or reads
/// forever), and its real size must be within the caller's limit. Reads exactly that size.
/// </summary>
public static class InputFiles
{
    /// <summary>Largest ONNX file read (protobuf's own limit).</summary>
    public const long MaxOnnxBytes = 2L << 30;
    /// <summary>Largest safetensors file read (one shard; memory-mapped, not read into memory).</summary>
    public const long MaxSafeTensorsBytes = 64L << 30;
    /// <summary>Largest JSON, vocabulary or text file read.</summary>
    public const long MaxTextBytes = 256L << 20;

    /// <summary>The whole file, after the regular-file and size checks; errors name <paramref name="what"/> and the path.</summary>
    /// <exception cref="InvalidDataException">Not a regular file, or larger than <paramref name="maxBytes"/>.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        long size = RegularFileSize(path, what);
        if (size > maxBytes)
            throw new InvalidDataException($"{what} '{path}' has {size} bytes, more than the {maxBytes}-byte limit for such a file");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var bytes = new byte[size];
        fs.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Size of a regular file after the same checks as <see cref="ReadAllBytes"/> (for callers that map the file instead).</summary>
    public static long CheckedSize(string path, long maxBytes, string what)
    {
        long size = RegularFileSize(path, what);
        if (size > maxBytes)
            throw new InvalidDataException($"{what} '{path}' has {size} bytes, more than the {maxBytes}-byte limit for such a file");
        return size;
    }

    /// <summary>The file's lines (UTF-8, BOM and CR dropped, as <see cref="File.ReadAllLines(string)"/>), read through <see cref="ReadAllBytes"/>.</summary>
    public static string[] ReadAllLines(string path, string what)
    {
        string text = System.Text.Encoding.UTF8.GetString(ReadAllBytes(path, MaxTextBytes, what)).TrimStart('\uFEFF');
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++) lines[i] = lines[i].TrimEnd('\r');
        return lines.Length > 0 && lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    /// <summary>Size of the regular file at <paramref name="path"/> (links followed).</summary>
    private static long RegularFileSize(string path, string what)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} '{path}' does not exist", path);
        return Format.RegularFile.SizeOf(path)
            ?? throw new InvalidDataException($"{what} '{path}' is not a regular file (a device, pipe, socket or directory); refusing to read it");
    }
}
