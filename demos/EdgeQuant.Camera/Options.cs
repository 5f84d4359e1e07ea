using System.Globalization;
using EdgeQuant.Camera.Frames;

namespace EdgeQuant.Camera;

/// <summary>Command line of eqcam.</summary>
internal sealed class Options
{
    public const string Usage = """
        usage: eqcam MODEL.eqm [options]
          --source SRC         where frames come from (default v4l2):
                                 v4l2[:N]               /dev/videoN (default 0), a USB (UVC) camera
                                 rpicam                 a Raspberry Pi camera module (rpicam-vid / libcamera-vid)
                                 dir:FOLDER             the images in FOLDER (.pgm .ppm .png .jpg .bmp), in name order
                                 raw:FILE:WxH:FORMAT    back-to-back raw frames, FORMAT gray|rgb24|yuyv|i420
          --size WxH           camera capture size (default 640x480)   --format yuyv|mjpeg (v4l2, default yuyv)
          --fps N              rpicam frame rate (default 30)
          --top K              labels on the status line (default 3)   --threads N (default 1)
          --gpio PIN --when LABEL[:P]   drive PIN high while the top label is LABEL with probability >= P (default 0.5)
          --gpio-chip N        /dev/gpiochipN (default 0)
          --save-hits DIR      save the model input of every frame matching --when as PGM/PPM
          --frames N           stop after N frames (default: until the source ends or SIGINT/SIGTERM)
          --log                one line per frame (frame, label, probability, top logit bits) instead of the live line
        """;

    public string Model = "";
    public string Source = "v4l2";
    public int Width = 640, Height = 480, Fps = 30, Top = 3, Threads = 1, GpioChip, GpioPin = -1;
    public bool Mjpeg, Log;
    public long Frames = long.MaxValue;
    public string? When, SaveHits;
    public float WhenP = 0.5f;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        if (args.Length == 0 || args[0].StartsWith('-')) throw new ArgumentException("the first argument is the model (.eqm)");
        o.Model = args[0];
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int(int min, int max) => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
                ? v : throw new ArgumentException($"{a} needs an integer in [{min}, {max}]");
            switch (a)
            {
                case "--source": o.Source = Next(); break;
                case "--size": (o.Width, o.Height) = Size(Next()); break;
                case "--format":
                    o.Mjpeg = Next() switch { "yuyv" => false, "mjpeg" => true, var f => throw new ArgumentException($"--format must be yuyv or mjpeg, got '{f}'") };
                    break;
                case "--fps": o.Fps = Int(1, 240); break;
                case "--top": o.Top = Int(1, 20); break;
                case "--threads": o.Threads = Int(1, 64); break;
                case "--gpio": o.GpioPin = Int(0, 1023); break;
                case "--gpio-chip": o.GpioChip = Int(0, 63); break;
                case "--when":
                    string w = Next();
                    int colon = w.LastIndexOf(':');
                    if (colon > 0 && float.TryParse(w[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out float p))
                    {
                        if (!(p >= 0 && p <= 1)) throw new ArgumentException($"--when probability {p} is not in [0, 1]");
                        (o.When, o.WhenP) = (w[..colon], p);
                    }
                    else o.When = w;
                    break;
                case "--save-hits": o.SaveHits = Next(); break;
                case "--frames": o.Frames = Int(1, int.MaxValue); break;
                case "--log": o.Log = true; break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        if (o.GpioPin >= 0 && o.When == null) throw new ArgumentException("--gpio needs --when LABEL[:P]");
        if (o.SaveHits != null && o.When == null) throw new ArgumentException("--save-hits needs --when LABEL[:P]");
        return o;
    }

    public static (int W, int H) Size(string s)
    {
        var p = s.Split('x');
        return p.Length == 2 && int.TryParse(p[0], out int w) && int.TryParse(p[1], out int h) && w is >= 2 and <= 8192 && h is >= 2 and <= 8192
            ? (w, h) : throw new ArgumentException($"size '{s}' is not WxH with sides in 2..8192");
    }

    /// <summary>Opens the source named by <see cref="Source"/>.</summary>
    public IFrameSource OpenSource()
    {
        string s = Source;
        if (s.StartsWith("dir:", StringComparison.Ordinal)) return new FileSource(s[4..]);
        if (s.StartsWith("raw:", StringComparison.Ordinal))
        {
            var p = s[4..].Split(':');
            if (p.Length != 3) throw new ArgumentException("--source raw:FILE:WxH:FORMAT");
            var (w, h) = Size(p[1]);
            var layout = p[2] switch
            {
                "gray" => PixelLayout.Gray8, "rgb24" => PixelLayout.Rgb24, "yuyv" => PixelLayout.Yuyv, "i420" => PixelLayout.I420,
                var f => throw new ArgumentException($"raw format must be gray, rgb24, yuyv or i420, got '{f}'"),
            };
            return new FileSource(p[0], w, h, layout);
        }
        if (s == "rpicam") return new RpicamSource(Width, Height, Fps);
        if (s == "v4l2" || s.StartsWith("v4l2:", StringComparison.Ordinal))
        {
            int bus = s.Length > 5 && int.TryParse(s[5..], out int n) && n >= 0 ? n : s == "v4l2" ? 0 : throw new ArgumentException($"bad camera '{s}': v4l2 or v4l2:N");
            return new V4l2Source(bus, Width, Height, Mjpeg);
        }
        throw new ArgumentException($"unknown source '{s}' (v4l2[:N], rpicam, dir:FOLDER, raw:FILE:WxH:FORMAT)");
    }
}
