using System.Buffers.Binary;
using System.IO.Compression;

namespace EdgeQuant.Converter.Data;

/// <summary>Readers for IDX (MNIST-style, optionally gzipped) and binary PGM/PPM images.</summary>
public static class ImageSources
{
    /// <summary>Largest image file read (an IDX set of 10,000 224×224 RGB images is 1.5 GB).</summary>
    public const long MaxImageFileBytes = 2L << 30;

    /// <summary>
    /// The file's bytes, gunzipped when they start with the gzip magic. The decompressed size is bounded by
    /// <see cref="MaxImageFileBytes"/> as it streams (a small gzip bomb is refused, not inflated into memory).
    /// </summary>
    public static byte[] ReadMaybeGzip(string path) => ReadMaybeGzip(path, MaxImageFileBytes);

    /// <summary><see cref="ReadMaybeGzip(string)"/> with an explicit bound on the decompressed bytes.</summary>
    public static byte[] ReadMaybeGzip(string path, long maxBytes)
    {
        byte[] b = InputFiles.ReadAllBytes(path, maxBytes, "image file");
        if (b.Length < 2 || b[0] != 0x1F || b[1] != 0x8B) return b;
        try
        {
            using var gz = new GZipStream(new MemoryStream(b), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            var chunk = new byte[1 << 16];
            for (int n; (n = gz.Read(chunk)) > 0;)
            {
                if (ms.Length + n > maxBytes) throw new InvalidDataException($"{path}: decompresses to more than {maxBytes} bytes");
                ms.Write(chunk, 0, n);
            }
            return ms.ToArray();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: not a valid gzip file ({e.Message})");
        }
    }

    /// <summary>An IDX3 image file (MNIST format, optionally gzipped) and optionally its IDX1 labels.</summary>
    public static ImageSet ReadIdx(string imagesPath, string? labelsPath)
    {
        byte[] b = ReadMaybeGzip(imagesPath);
        if (b.Length < 16 || BinaryPrimitives.ReadInt32BigEndian(b) != 0x803)
            throw new InvalidDataException($"{imagesPath}: not an IDX3 u8 image file (magic 0x00000803)");
        int n = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4)), h = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)), w = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(12));
        if (n < 0 || h <= 0 || w <= 0 || 16 + (long)n * h * w != b.Length)
            throw new InvalidDataException($"{imagesPath}: header says {n} images of {h}x{w}, file has {b.Length - 16} data bytes");
        int[]? labels = null;
        if (labelsPath != null)
        {
            byte[] l = ReadMaybeGzip(labelsPath);
            if (l.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(l) != 0x801)
                throw new InvalidDataException($"{labelsPath}: not an IDX1 u8 label file (magic 0x00000801)");
            int ln = BinaryPrimitives.ReadInt32BigEndian(l.AsSpan(4));
            if (ln != n || l.Length != 8 + n) throw new InvalidDataException($"{labelsPath}: {ln} labels for {n} images");
            labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = l[8 + i];
        }
        return new ImageSet(b[16..], n, h, w, 1, labels);
    }

    /// <summary>One binary PGM (P5) or PPM (P6) image with maxval 255.</summary>
    public static ImageSet ReadPnm(string path)
    {
        byte[] b = InputFiles.ReadAllBytes(path, MaxImageFileBytes, "image file");
        int pos = 0;
        string Token()
        {
            while (pos < b.Length && (char.IsWhiteSpace((char)b[pos]) || b[pos] == '#'))
            {
                if (b[pos] == '#') while (pos < b.Length && b[pos] != '\n') pos++;
                else pos++;
            }
            int s = pos;
            while (pos < b.Length && !char.IsWhiteSpace((char)b[pos])) pos++;
            return System.Text.Encoding.ASCII.GetString(b, s, pos - s);
        }
        string magic = Token();
        int channels = magic switch { "P5" => 1, "P6" => 3, _ => throw new InvalidDataException($"{path}: not a binary PGM/PPM (P5/P6) image") };
        if (!int.TryParse(Token(), out int w) || !int.TryParse(Token(), out int h) || !int.TryParse(Token(), out int max) || w <= 0 || h <= 0 || max != 255)
            throw new InvalidDataException($"{path}: bad PGM/PPM header (only maxval 255 is supported)");
        pos++; // single whitespace after maxval
        int size = w * h * channels;
        if (b.Length - pos < size) throw new InvalidDataException($"{path}: truncated image data");
        return new ImageSet(b.AsSpan(pos, size).ToArray(), 1, h, w, channels, null);
    }

    /// <summary>Writes one image as PGM/PPM.</summary>
    /// <summary>Writes one image as binary PGM (1 channel) or PPM (3 channels).</summary>
    public static void WritePnm(string path, ReadOnlySpan<byte> pixels, int height, int width, int channels)
    {
        using var f = File.Create(path);
        f.Write(System.Text.Encoding.ASCII.GetBytes($"{(channels == 1 ? "P5" : "P6")}\n{width} {height}\n255\n"));
        f.Write(pixels);
    }
}
