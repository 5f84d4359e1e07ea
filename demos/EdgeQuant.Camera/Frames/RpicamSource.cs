using System.Diagnostics;

namespace EdgeQuant.Camera.Frames;

/// <summary>
/// A Raspberry Pi camera module through `rpicam-vid` (or the older `libcamera-vid`) writing raw YUV 4:2:0 frames to a
/// pipe — the route the Iot.Device.Camera binding takes too, since libcamera's V4L2 compatibility layer is unreliable
/// on 64-bit Raspberry Pi OS.
/// </summary>
internal sealed class RpicamSource : IFrameSource
{
    private readonly Process _process;
    private readonly Stream _stdout;
    private readonly int _w, _h;
    private readonly string _tool;
    private long _sequence;

    public RpicamSource(int width, int height, int fps)
    {
        if (width % 2 != 0 || height % 2 != 0) throw new ArgumentException($"rpicam frames need even sizes, got {width}x{height}");
        (_w, _h) = (width, height);
        _tool = FindTool() ?? throw new IOException("neither rpicam-vid nor libcamera-vid is on PATH (Raspberry Pi OS: apt install rpicam-apps)");
        var psi = new ProcessStartInfo(_tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["-t", "0", "-n", "--codec", "yuv420", "--width", width.ToString(), "--height", height.ToString(), "--framerate", fps.ToString(), "-o", "-"])
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new IOException($"{_tool} did not start");
        _process.ErrorDataReceived += (_, _) => { }; // the tool logs to stderr; drained so it never blocks
        _process.BeginErrorReadLine();
        _stdout = _process.StandardOutput.BaseStream;
    }

    private static string? FindTool()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            foreach (string t in (string[])["rpicam-vid", "libcamera-vid"])
                if (File.Exists(Path.Combine(dir, t))) return Path.Combine(dir, t);
        return null;
    }

    /// <inheritdoc/>
    public int MaxFrameBytes => Frame.Bytes(PixelLayout.I420, _w, _h);

    /// <inheritdoc/>
    public bool Live => true;

    /// <inheritdoc/>
    public string Describe() => $"{Path.GetFileName(_tool)}, {_w}x{_h} YUV420";

    /// <inheritdoc/>
    public bool Read(Frame into, CancellationToken cancel)
    {
        int n = MaxFrameBytes;
        try { _stdout.ReadExactly(into.Data, 0, n); }
        catch (EndOfStreamException) { throw new IOException($"{Path.GetFileName(_tool)} exited (code {(_process.HasExited ? _process.ExitCode : -1)}): is the camera connected and enabled?"); }
        (into.Width, into.Height, into.Layout, into.Length, into.Sequence) = (_w, _h, PixelLayout.I420, n, _sequence++);
        into.Origin = "rpicam";
        return true;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.Dispose();
    }
}
