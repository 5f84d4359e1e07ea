using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using EdgeQuant.Camera;
using EdgeQuant.Camera.Frames;
using EdgeQuant.Demos;
using EdgeQuant.Engine;
using EdgeQuant.Format;

// eqcam: camera → crop/resize/colour → classify → one live terminal line (or --log lines); optional GPIO output.
Options o;
try { o = Options.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"eqcam: {e.Message}\n\n{Options.Usage}");
    return 2;
}
using var cts = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
try { return new Pipeline(o).Run(cts.Token); }
catch (Exception e) when (e is ArgumentException or IOException or ModelFormatException or UnauthorizedAccessException or InvalidOperationException)
{
    Console.Error.WriteLine($"\neqcam: {e.Message}");
    return 1;
}

namespace EdgeQuant.Camera
{
    /// <summary>The classify loop and its report.</summary>
    internal sealed class Pipeline(Options o)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public int Run(CancellationToken cancel)
        {
            using var model = Model.Load(o.Model);
            var im = model.Image ?? throw new ArgumentException($"{o.Model} is a text model; the camera demo needs an image classifier");
            if (im.Channels is not (1 or 3)) throw new ArgumentException($"the model takes {im.Channels} channels; the camera demo feeds 1 (gray) or 3 (RGB)");
            string[] labels = model.Metadata.Labels.Length == model.OutputLength ? model.Metadata.Labels
                : Enumerable.Range(0, model.OutputLength).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
            int when = o.When == null ? -1 : Array.IndexOf(labels, o.When);
            if (o.When != null && when < 0) throw new ArgumentException($"--when '{o.When}' is not a label of the model ({string.Join(", ", labels)})");
            using var session = model.CreateSession(new SessionOptions { Threads = o.Threads });
            using var gpio = o.GpioPin >= 0 ? new GpioOutput(o.GpioChip, o.GpioPin) : null;
            if (o.SaveHits != null) Directory.CreateDirectory(o.SaveHits);

            var source = OpenWithRetry(cancel);
            if (source == null) return 130;
            Console.Error.WriteLine($"eqcam: {o.Model} ({im.Width}x{im.Height}x{im.Channels}, {labels.Length} classes, {session.KernelPath}, {o.Threads} thread(s)); source {source.Describe()}"
                + (gpio != null ? $"; GPIO {o.GpioChip}:{o.GpioPin} via {gpio.Driver} when '{o.When}' p >= {o.WhenP}" : ""));

            var prep = new Preprocessor(im.Height, im.Width, im.Channels);
            var logits = new float[model.OutputLength];
            var order = new int[Math.Min(o.Top, labels.Length)]; // top classes, best first
            var probs = new float[order.Length];                  // their probabilities
            LatestFrame? slot = null;
            Thread? capture = null;
            Frame? fileFrame = null;
            if (source.Live)
            {
                slot = new LatestFrame(source.MaxFrameBytes);
                var first = source;
                capture = new Thread(() => CaptureLoop(first, slot, cancel)) { IsBackground = true, Name = "capture" };
                capture.Start();
            }
            else fileFrame = new Frame(source.MaxFrameBytes);

            long frames = 0, allocated = 0, hits = 0;
            double prepMs = 0, runMs = 0, lastLine = 0;
            string temp = Temperature();
            double start = _clock.Elapsed.TotalSeconds;
            try
            {
                while (frames < o.Frames && !cancel.IsCancellationRequested)
                {
                    Frame? f = slot != null ? slot.Take(cancel) : source.Read(fileFrame!, cancel) ? fileFrame : null;
                    if (f == null) break;
                    long a0 = GC.GetAllocatedBytesForCurrentThread(), t0 = Stopwatch.GetTimestamp();
                    prep.Run(f);
                    long t1 = Stopwatch.GetTimestamp();
                    session.RunPixels(prep.Pixels, im.Height, im.Width, im.Channels, logits);
                    long t2 = Stopwatch.GetTimestamp();
                    if (frames > 0) allocated += GC.GetAllocatedBytesForCurrentThread() - a0; // the first frame warms up
                    prepMs += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
                    runMs += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
                    frames++;
                    Predictions.TopK(logits, order, probs);
                    bool hit = when >= 0 && order[0] == when && probs[0] >= o.WhenP;
                    gpio?.Set(hit);
                    if (hit) hits++;
                    if (hit && o.SaveHits != null) SaveHit(prep.Pixels, im, Path.Combine(o.SaveHits, $"hit-{f.Sequence:D6}"));
                    if (o.Log)
                        Console.WriteLine($"frame {f.Sequence} {f.Origin}: {labels[order[0]]} p={probs[0]:F4} logit={BitConverter.SingleToUInt32Bits(logits[order[0]]):x8}");
                    else if (_clock.Elapsed.TotalSeconds - lastLine >= 0.2)
                    {
                        lastLine = _clock.Elapsed.TotalSeconds;
                        if (frames % 16 == 1) temp = Temperature();
                        double fps = frames / Math.Max(1e-9, lastLine - start);
                        string top = string.Join("  ", order.Select((k, j) => $"{labels[k]} {probs[j]:P0}"));
                        Console.Write($"\r{top} | {fps:F1} fps | {runMs / frames:F1} ms | {temp}{(slot != null ? $" | dropped {slot.Dropped}" : "")}   ");
                    }
                }
            }
            finally
            {
                source.Dispose();
            }
            if (!o.Log) Console.WriteLine();
            double seconds = _clock.Elapsed.TotalSeconds - start;
            Console.Error.WriteLine($"eqcam: {frames} frames in {seconds:F2} s ({frames / Math.Max(seconds, 1e-9):F1} fps); per frame: preprocessing {prepMs / Math.Max(frames, 1):F3} ms, "
                + $"inference {runMs / Math.Max(frames, 1):F3} ms, {(frames > 1 ? allocated / (frames - 1) : 0)} bytes allocated (after the first); "
                + $"{(slot != null ? $"dropped {slot.Dropped}; " : "")}{(when >= 0 ? $"hits {hits}" : "")}");
            return 0;
        }

        /// <summary>Opens the source; a missing or failing camera is reported and retried every 2 s until SIGINT/SIGTERM.</summary>
        private IFrameSource? OpenWithRetry(CancellationToken cancel)
        {
            while (true)
            {
                try { return o.OpenSource(); }
                catch (IOException e) when (o.Source is "rpicam" || o.Source.StartsWith("v4l2", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine($"eqcam: {e.Message}; retrying in 2 s (Ctrl+C stops)");
                    if (cancel.WaitHandle.WaitOne(2000)) return null;
                }
            }
        }

        /// <summary>Capture thread: reads frames into the slot; an unplugged camera or exited process is reopened.</summary>
        private void CaptureLoop(IFrameSource source, LatestFrame slot, CancellationToken cancel)
        {
            IFrameSource? s = source;
            while (!cancel.IsCancellationRequested)
            {
                try
                {
                    s ??= o.OpenSource();
                    while (!cancel.IsCancellationRequested && s.Read(slot.Back, cancel)) slot.Publish();
                }
                catch (OperationCanceledException) { return; }
                catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
                {
                    Console.Error.WriteLine($"\neqcam: {e.Message}; retrying in 2 s");
                    if (!ReferenceEquals(s, source)) s?.Dispose();
                    s = null;
                    if (cancel.WaitHandle.WaitOne(2000)) return;
                }
            }
        }

        /// <summary>SoC temperature from /sys/class/thermal (the first thermal zone), or "" where there is none.</summary>
        private static string Temperature()
        {
            try { return $"{int.Parse(File.ReadAllText("/sys/class/thermal/thermal_zone0/temp").Trim(), CultureInfo.InvariantCulture) / 1000.0:F1} °C"; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return "no thermal zone"; }
        }

        private static void SaveHit(byte[] pixels, ImageConfig im, string stem)
        {
            using var f = File.Create(stem + (im.Channels == 1 ? ".pgm" : ".ppm"));
            f.Write(System.Text.Encoding.ASCII.GetBytes($"{(im.Channels == 1 ? "P5" : "P6")}\n{im.Width} {im.Height}\n255\n"));
            f.Write(pixels);
        }
    }
}
