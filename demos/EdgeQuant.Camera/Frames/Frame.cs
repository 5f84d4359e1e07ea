namespace EdgeQuant.Camera.Frames;

/// <summary>Pixel layouts the sources deliver.</summary>
internal enum PixelLayout
{
    /// <summary>8-bit luma, [H, W].</summary>
    Gray8,
    /// <summary>Interleaved 8-bit RGB, [H, W, 3].</summary>
    Rgb24,
    /// <summary>YUV 4:2:2 packed Y0 U Y1 V (V4L2 YUYV), [H, W/2, 4].</summary>
    Yuyv,
    /// <summary>YUV 4:2:0 planar (rpicam-vid --codec yuv420): Y [H, W], U [H/2, W/2], V [H/2, W/2].</summary>
    I420,
}

/// <summary>
/// One frame in a buffer sized once for the source's largest frame: sources write into it, the pipeline reads it;
/// nothing is allocated per frame.
/// </summary>
internal sealed class Frame(int capacity)
{
    /// <summary>The pixel bytes (the first <see cref="Length"/> are valid).</summary>
    public byte[] Data { get; } = new byte[capacity];
    /// <summary>Valid bytes.</summary>
    public int Length { get; set; }
    /// <summary>Width in pixels.</summary>
    public int Width { get; set; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; set; }
    /// <summary>Layout of <see cref="Data"/>.</summary>
    public PixelLayout Layout { get; set; }
    /// <summary>Sequence number from the source (gaps are dropped frames).</summary>
    public long Sequence { get; set; }
    /// <summary>Where the frame came from (a file name, or the device).</summary>
    public string Origin { get; set; } = "";

    /// <summary>Bytes one frame of <paramref name="layout"/> takes.</summary>
    public static int Bytes(PixelLayout layout, int width, int height) => layout switch
    {
        PixelLayout.Gray8 => width * height,
        PixelLayout.Rgb24 => width * height * 3,
        PixelLayout.Yuyv => width * height * 2,
        _ => width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2),
    };

    /// <summary>Copies the frame's description and bytes from <paramref name="other"/>.</summary>
    public void CopyFrom(Frame other)
    {
        other.Data.AsSpan(0, other.Length).CopyTo(Data);
        (Length, Width, Height, Layout, Sequence, Origin) = (other.Length, other.Width, other.Height, other.Layout, other.Sequence, other.Origin);
    }
}
