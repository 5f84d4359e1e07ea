using Iot.Device.Media;
using StbImageSharp;

namespace EdgeQuant.Camera.Frames;

/// <summary>
/// A USB (UVC) camera through V4L2 (<see cref="VideoDevice"/> of Iot.Device.Bindings), YUYV or MJPEG (decoded with
/// StbImageSharp). The device node is probed first: <see cref="VideoDevice.Create"/> succeeds without a camera and
/// only the first capture would fail.
/// </summary>
internal sealed class V4l2Source : IFrameSource
{
    private readonly VideoDevice _device;
    private readonly string _path;
    private readonly int _w, _h;
    private readonly bool _mjpeg;
    private long _sequence;

    public V4l2Source(int bus, int width, int height, bool mjpeg)
    {
        _path = $"/dev/video{bus}";
        if (!File.Exists(_path)) throw new IOException($"no camera at {_path} (is a UVC camera plugged in? `ls /dev/video*` lists the nodes)");
        (_w, _h, _mjpeg) = (width, height, mjpeg);
        var format = mjpeg ? VideoPixelFormat.MJPEG : VideoPixelFormat.YUYV;
        _device = VideoDevice.Create(new VideoConnectionSettings(bus, ((uint)width, (uint)height), format));
        try
        {
            var offered = _device.GetSupportedPixelFormats().ToList();
            if (!offered.Contains(format))
                throw new ArgumentException($"{_path} does not offer {format}; it offers {string.Join(", ", offered)} (choose --format yuyv or mjpeg)");
            _device.StartCaptureContinuous();
        }
        catch
        {
            _device.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public int MaxFrameBytes => _w * _h * 3;

    /// <inheritdoc/>
    public bool Live => true;

    /// <inheritdoc/>
    public string Describe() => $"{_path}, {_w}x{_h} {(_mjpeg ? "MJPEG" : "YUYV")} (V4L2)";

    /// <inheritdoc/>
    public bool Read(Frame into, CancellationToken cancel)
    {
        // VideoDevice pushes frames from CaptureContinuous through NewImageBufferReady (pooled buffers, returned at
        // once); the capture runs on its own thread and Read takes the newest frame it copied out.
        if (_capture == null)
        {
            _device.ImageBufferPoolingEnabled = true;
            _device.NewImageBufferReady += OnFrame;
            _capture = new Thread(() =>
            {
                try { _device.CaptureContinuous(_stop.Token); }
                catch (Exception e) when (e is not OperationCanceledException) { lock (_sync) { _error = e; Monitor.PulseAll(_sync); } }
            }) { IsBackground = true, Name = "v4l2" };
            _capture.Start();
        }
        lock (_sync)
        {
            while (!_fresh)
            {
                if (_error != null) throw new IOException($"{_path}: capture failed ({_error.Message})", _error);
                if (cancel.IsCancellationRequested) throw new OperationCanceledException(cancel);
                Monitor.Wait(_sync, 100);
            }
            _fresh = false;
            int n = _latestLength;
            if (_mjpeg)
            {
                var img = ImageResult.FromMemory(_latest.AsSpan(0, n).ToArray(), ColorComponents.RedGreenBlue);
                if (img.Width * img.Height * 3 > into.Data.Length) throw new IOException($"{_path}: a {img.Width}x{img.Height} frame is larger than the {_w}x{_h} asked for");
                img.Data.AsSpan(0, img.Width * img.Height * 3).CopyTo(into.Data);
                (into.Width, into.Height, into.Layout, into.Length) = (img.Width, img.Height, PixelLayout.Rgb24, img.Width * img.Height * 3);
            }
            else
            {
                int need = Frame.Bytes(PixelLayout.Yuyv, _w, _h);
                if (n < need) throw new IOException($"{_path}: a YUYV frame of {n} bytes, {need} expected for {_w}x{_h}");
                _latest.AsSpan(0, need).CopyTo(into.Data);
                (into.Width, into.Height, into.Layout, into.Length) = (_w, _h, PixelLayout.Yuyv, need);
            }
        }
        into.Sequence = _sequence++;
        into.Origin = _path;
        return true;
    }

    private readonly object _sync = new();
    private readonly CancellationTokenSource _stop = new();
    private byte[] _latest = [];
    private int _latestLength;
    private bool _fresh;
    private Exception? _error;
    private Thread? _capture;

    private void OnFrame(object sender, NewImageBufferReadyEventArgs e)
    {
        lock (_sync)
        {
            if (_latest.Length < e.Length) _latest = new byte[e.Length]; // grows once
            e.ImageBuffer.AsSpan(0, e.Length).CopyTo(_latest);
            _latestLength = e.Length;
            _fresh = true;
            Monitor.PulseAll(_sync);
        }
        System.Buffers.ArrayPool<byte>.Shared.Return(e.ImageBuffer);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _stop.Cancel();
        try { _device.StopCaptureContinuous(); }
        catch (Exception e) when (e is IOException or InvalidOperationException) { } // already gone (unplugged)
        _device.Dispose();
    }
}
