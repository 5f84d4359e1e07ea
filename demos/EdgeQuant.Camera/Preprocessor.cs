using EdgeQuant.Camera.Frames;

namespace EdgeQuant.Camera;

/// <summary>
/// Frame → model input pixels [H, W, C] (C = 1 or 3, what <see cref="Engine.Session.RunPixels"/> takes): the largest
/// centered crop with the model's aspect ratio, bilinear resize and colour conversion (BT.601 full-range YUV → RGB,
/// RGB → luma 77/150/29) in integer arithmetic, so every platform computes the same pixels. The sampling tables are
/// built when the frame size changes; a frame allocates nothing.
/// </summary>
internal sealed class Preprocessor(int height, int width, int channels)
{
    /// <summary>The model input, [H, W, C].</summary>
    public byte[] Pixels { get; } = new byte[height * width * channels];

    private int _srcW = -1, _srcH = -1;
    private readonly int[] _x0 = new int[width], _x1 = new int[width], _fx = new int[width];   // per output column: source columns, weight of x1 (0..256)
    private readonly int[] _y0 = new int[height], _y1 = new int[height], _fy = new int[height]; // per output row

    /// <summary>Converts <paramref name="f"/> into <see cref="Pixels"/>.</summary>
    public void Run(Frame f)
    {
        if (f.Width != _srcW || f.Height != _srcH) Plan(f.Width, f.Height);
        Span<int> a = stackalloc int[3], b = stackalloc int[3], c = stackalloc int[3], d = stackalloc int[3];
        for (int oy = 0; oy < height; oy++)
        {
            int y0 = _y0[oy], y1 = _y1[oy], fy = _fy[oy];
            for (int ox = 0; ox < width; ox++)
            {
                int x0 = _x0[ox], x1 = _x1[ox], fx = _fx[ox];
                Sample(f, x0, y0, a);
                Sample(f, x1, y0, b);
                Sample(f, x0, y1, c);
                Sample(f, x1, y1, d);
                int o = (oy * width + ox) * channels;
                for (int ch = 0; ch < 3; ch++)
                {
                    int top = a[ch] * (256 - fx) + b[ch] * fx, bottom = c[ch] * (256 - fx) + d[ch] * fx;
                    a[ch] = (top * (256 - fy) + bottom * fy + (1 << 15)) >> 16; // 0..255
                }
                if (channels == 1) Pixels[o] = (byte)((77 * a[0] + 150 * a[1] + 29 * a[2] + 128) >> 8);
                else (Pixels[o], Pixels[o + 1], Pixels[o + 2]) = ((byte)a[0], (byte)a[1], (byte)a[2]);
            }
        }
    }

    /// <summary>Sampling tables for a <paramref name="w"/>×<paramref name="h"/> source: centered crop, pixel centres aligned.</summary>
    private void Plan(int w, int h)
    {
        (_srcW, _srcH) = (w, h);
        // Largest crop with the model's aspect ratio (width/height), centered.
        long cw = w, chh = h;
        if ((long)w * height > (long)h * width) cw = (long)h * width / height; else chh = (long)w * height / width;
        long cx = (w - cw) / 2, cy = (h - chh) / 2;
        Axis(width, cw, cx, w, _x0, _x1, _fx);
        Axis(height, chh, cy, h, _y0, _y1, _fy);
    }

    private static void Axis(int outN, long crop, long start, int srcN, int[] i0, int[] i1, int[] f)
    {
        for (int o = 0; o < outN; o++)
        {
            // Source coordinate of the output pixel's centre, in 1/256 pixels: start + (o + ½)·crop/outN − ½.
            long s = ((2L * o + 1) * crop * 256 / (2L * outN)) - 128 + start * 256;
            if (s < 0) s = 0;
            long max = (srcN - 1) * 256L;
            if (s > max) s = max;
            i0[o] = (int)(s >> 8);
            i1[o] = Math.Min(i0[o] + 1, srcN - 1);
            f[o] = (int)(s & 255);
        }
    }

    /// <summary>RGB of source pixel (x, y) for every layout.</summary>
    private static void Sample(Frame f, int x, int y, Span<int> rgb)
    {
        byte[] d = f.Data;
        int w = f.Width;
        switch (f.Layout)
        {
            case PixelLayout.Gray8:
                rgb[0] = rgb[1] = rgb[2] = d[y * w + x];
                return;
            case PixelLayout.Rgb24:
                int p = (y * w + x) * 3;
                (rgb[0], rgb[1], rgb[2]) = (d[p], d[p + 1], d[p + 2]);
                return;
            case PixelLayout.Yuyv:
                int q = (y * w + (x & ~1)) * 2;
                Yuv(d[q + (x & 1) * 2], d[q + 1], d[q + 3], rgb);
                return;
            default: // I420
                int cw = (w + 1) / 2, ysize = w * f.Height, csize = cw * ((f.Height + 1) / 2);
                int ci = (y >> 1) * cw + (x >> 1);
                Yuv(d[y * w + x], d[ysize + ci], d[ysize + csize + ci], rgb);
                return;
        }
    }

    /// <summary>BT.601 full-range YUV → RGB in 8.8 fixed point (1.402, 0.344, 0.714, 1.772).</summary>
    private static void Yuv(int y, int u, int v, Span<int> rgb)
    {
        int cu = u - 128, cv = v - 128;
        rgb[0] = Math.Clamp(y + ((359 * cv + 128) >> 8), 0, 255);
        rgb[1] = Math.Clamp(y - ((88 * cu + 183 * cv + 128) >> 8), 0, 255);
        rgb[2] = Math.Clamp(y + ((454 * cu + 128) >> 8), 0, 255);
    }
}
