using StbImageSharp;

namespace EdgeQuant.Camera.Frames;

/// <summary>
/// Frames from files, for tests and for users without a camera: a folder of images (binary PGM/PPM, PNG, JPEG, BMP;
/// in name order) or a raw video file of back-to-back frames of one size and layout. Every frame is delivered, in order.
/// </summary>
internal sealed class FileSource : IFrameSource
{
    private readonly string[] _files = [];
    private readonly FileStream? _raw;
    private readonly int _rawW, _rawH;
    private readonly PixelLayout _rawLayout;
    private readonly string _what;
    private int _next;
    private long _sequence;

    /// <summary>A folder of images.</summary>
    public FileSource(string folder)
    {
        if (!Directory.Exists(folder)) throw new ArgumentException($"image folder '{folder}' does not exist");
        _files = Directory.GetFiles(folder).Where(IsImage).Order(StringComparer.Ordinal).ToArray();
        if (_files.Length == 0) throw new ArgumentException($"'{folder}' holds no .pgm, .ppm, .png, .jpg or .bmp image");
        foreach (string f in _files)
        {
            var (w, h, c) = Probe(f);
            MaxFrameBytes = Math.Max(MaxFrameBytes, w * h * c);
        }
        _what = $"{_files.Length} image(s) from {folder}";
    }

    /// <summary>A raw video file of <paramref name="width"/>×<paramref name="height"/> frames in <paramref name="layout"/>.</summary>
    public FileSource(string path, int width, int height, PixelLayout layout)
    {
        if (width is < 2 or > 8192 || height is < 2 or > 8192) throw new ArgumentException($"raw frame size {width}x{height} is not in 2..8192");
        _raw = File.OpenRead(path);
        (_rawW, _rawH, _rawLayout) = (width, height, layout);
        MaxFrameBytes = Frame.Bytes(layout, width, height);
        if (_raw.Length % MaxFrameBytes != 0)
            throw new ArgumentException($"'{path}' is {_raw.Length} bytes, not a whole number of {width}x{height} {layout} frames ({MaxFrameBytes} bytes each)");
        _what = $"{_raw.Length / MaxFrameBytes} raw {layout} frame(s) of {width}x{height} from {path}";
    }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public bool Live => false;

    /// <inheritdoc/>
    public string Describe() => _what;

    /// <inheritdoc/>
    public bool Read(Frame into, CancellationToken cancel)
    {
        if (_raw != null)
        {
            int n = Frame.Bytes(_rawLayout, _rawW, _rawH);
            if (_raw.Position + n > _raw.Length) return false;
            _raw.ReadExactly(into.Data, 0, n);
            (into.Length, into.Width, into.Height, into.Layout, into.Sequence) = (n, _rawW, _rawH, _rawLayout, _sequence++);
            into.Origin = "raw";
            return true;
        }
        if (_next == _files.Length) return false;
        string file = _files[_next++];
        byte[] bytes = File.ReadAllBytes(file);
        if (IsPnm(file))
        {
            var (w, h, c, offset) = PnmHeader(bytes, file);
            bytes.AsSpan(offset, w * h * c).CopyTo(into.Data);
            (into.Width, into.Height, into.Layout, into.Length) = (w, h, c == 1 ? PixelLayout.Gray8 : PixelLayout.Rgb24, w * h * c);
        }
        else
        {
            var img = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
            img.Data.AsSpan(0, img.Width * img.Height * 3).CopyTo(into.Data);
            (into.Width, into.Height, into.Layout, into.Length) = (img.Width, img.Height, PixelLayout.Rgb24, img.Width * img.Height * 3);
        }
        into.Sequence = _sequence++;
        into.Origin = Path.GetFileName(file);
        return true;
    }

    /// <inheritdoc/>
    public void Dispose() => _raw?.Dispose();

    private static bool IsImage(string f) => Path.GetExtension(f).ToLowerInvariant() is ".pgm" or ".ppm" or ".png" or ".jpg" or ".jpeg" or ".bmp";

    private static bool IsPnm(string f) => Path.GetExtension(f).ToLowerInvariant() is ".pgm" or ".ppm";

    private static (int W, int H, int C) Probe(string file)
    {
        if (IsPnm(file))
        {
            var (w, h, c, _) = PnmHeader(File.ReadAllBytes(file), file);
            return (w, h, c);
        }
        using var s = File.OpenRead(file);
        var info = ImageInfo.FromStream(s) ?? throw new ArgumentException($"'{file}' is not a PNG, JPEG or BMP image StbImageSharp can read");
        if (info.Width is < 1 or > 8192 || info.Height is < 1 or > 8192) throw new ArgumentException($"'{file}' is {info.Width}x{info.Height}, outside 1..8192");
        return (info.Width, info.Height, 3);
    }

    /// <summary>Binary PGM (P5) / PPM (P6) with maxval 255: width, height, channels and the data offset.</summary>
    private static (int W, int H, int C, int Offset) PnmHeader(byte[] b, string file)
    {
        int pos = 0;
        string Token()
        {
            while (pos < b.Length && (char.IsWhiteSpace((char)b[pos]) || b[pos] == '#'))
                if (b[pos] == '#') while (pos < b.Length && b[pos] != '\n') pos++;
                else pos++;
            int start = pos;
            while (pos < b.Length && !char.IsWhiteSpace((char)b[pos])) pos++;
            return System.Text.Encoding.ASCII.GetString(b, start, pos - start);
        }
        string magic = Token();
        int c = magic == "P5" ? 1 : magic == "P6" ? 3 : throw new ArgumentException($"'{file}' is not a binary PGM (P5) or PPM (P6) file");
        if (!int.TryParse(Token(), out int w) || !int.TryParse(Token(), out int h) || !int.TryParse(Token(), out int max) || max != 255
            || w is < 1 or > 8192 || h is < 1 or > 8192)
            throw new ArgumentException($"'{file}': bad PNM header (sizes 1..8192, maxval 255)");
        int offset = pos + 1;
        if ((long)offset + (long)w * h * c > b.Length) throw new ArgumentException($"'{file}' is truncated: {w}x{h}x{c} pixels need {offset + (long)w * h * c} bytes, the file has {b.Length}");
        return (w, h, c, offset);
    }
}
