namespace EdgeQuant.Converter.Data;

/// <summary>A set of 8-bit images of one size, [N, H, W, C], with optional labels.</summary>
public sealed class ImageSet(byte[] pixels, int count, int height, int width, int channels, int[]? labels)
{
    /// <summary>Pixels [N, H, W, C].</summary>
    public byte[] Pixels { get; } = pixels;
    /// <summary>Number of images.</summary>
    public int Count { get; } = count;
    /// <summary>Height in pixels.</summary>
    public int Height { get; } = height;
    /// <summary>Width in pixels.</summary>
    public int Width { get; } = width;
    /// <summary>Channels (1 or 3).</summary>
    public int Channels { get; } = channels;
    /// <summary>Class index per image, or null.</summary>
    public int[]? Labels { get; } = labels;
    /// <summary>Bytes of one image, H·W·C.</summary>
    public int ImageBytes => Height * Width * Channels;
    /// <summary>Pixels of image <paramref name="i"/> [H, W, C].</summary>
    public ReadOnlySpan<byte> Image(int i) => Pixels.AsSpan(i * ImageBytes, ImageBytes);

    /// <summary>Images [<paramref name="start"/>, <paramref name="end"/>) as a new set (pixels copied).</summary>
    public ImageSet Slice(int start, int end)
    {
        if (start < 0 || end > Count || start > end) throw new ArgumentOutOfRangeException(nameof(start), $"range {start}:{end} is outside the set's {Count} images");
        return new ImageSet(Pixels.AsSpan(start * ImageBytes, (end - start) * ImageBytes).ToArray(), end - start, Height, Width, Channels, Labels?[start..end]);
    }

    /// <summary>Image i in the ONNX input convention [C, H, W]: (p·scale − mean)/std.</summary>
    public float[] ToModelInput(int i, Format.ImageConfig im)
    {
        var x = new float[Channels * Height * Width];
        ReadOnlySpan<byte> p = Image(i);
        for (int c = 0; c < Channels; c++)
            for (int j = 0; j < Height * Width; j++)
                x[c * Height * Width + j] = (p[j * Channels + c] * im.Scale - im.Mean[c]) / im.Std[c];
        return x;
    }
}
